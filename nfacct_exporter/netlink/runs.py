"""Runs of netlink messages of one compiled layout, read at once.

A datagram of NFLOG packets logged by one rule holds many messages of one length and one
attribute layout, ``step`` bytes apart: ``struct.iter_unpack`` reads them all in one call and
C-level ``map`` calls check them, so the per-message Python bytecode mostly disappears (the
NFLOG tally and the events' fast path both do this).
"""

from collections.abc import Callable, Iterator


def same_layout_rows(rows: Callable[[memoryview], Iterator[tuple]], step: int,
                     check: Callable[[tuple], tuple], const: tuple, first: tuple,
                     view: memoryview, off: int) -> list[tuple]:
    """``first`` (a message's row) and the rows of the messages from ``off`` on (``step`` bytes
    apart, read by ``rows``) that have its layout (``check(row) == const``), up to the first
    that has not: read in chunks growing from 8, so a short run does not read the whole
    datagram."""
    out = [first]
    same = const.__eq__
    want = 8
    while True:
        m = min(want, (len(view) - off) // step)
        if m <= 0:
            return out
        chunk = list(rows(view[off : off + m * step]))
        ok = list(map(same, map(check, chunk)))
        if False in ok:
            out += chunk[: ok.index(False)]
            return out
        out += chunk
        off += m * step
        want *= 2
