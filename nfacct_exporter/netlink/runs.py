"""Runs of netlink messages of one compiled layout, read at once.

A datagram of NFLOG packets logged by one rule holds many messages of one length and one
attribute layout, ``step`` bytes apart: ``struct.iter_unpack`` reads them all in one call and
C-level ``map`` calls check them, so the per-message Python bytecode mostly disappears (the
NFLOG tally and the events' fast path both do this).
"""

from collections.abc import Callable, Iterator
from typing import Protocol


class Layout(Protocol):
    """A compiled message layout: ``unpack`` reads one message, ``rows`` the messages of a
    run (``step`` bytes apart); a message has the layout when ``check(row) == const``."""

    unpack: Callable[[bytes, int], tuple]
    rows: Callable[[memoryview], Iterator[tuple]]
    step: int
    check: Callable[[tuple], tuple]
    const: tuple


def same_layout_rows(lay: Layout, first: tuple, view: memoryview, off: int) -> list[tuple]:
    """``first`` (a message's row) and the rows of the messages from ``off`` on that have its
    layout, up to the first that has not: read in chunks growing from 8, so a short run does
    not read the whole datagram."""
    rows = [first]
    step, check, same = lay.step, lay.check, lay.const.__eq__
    want = 8
    while True:
        m = min(want, (len(view) - off) // step)
        if m <= 0:
            return rows
        chunk = list(lay.rows(view[off : off + m * step]))
        ok = list(map(same, map(check, chunk)))
        if False in ok:
            rows += chunk[: ok.index(False)]
            return rows
        rows += chunk
        off += m * step
        want *= 4
