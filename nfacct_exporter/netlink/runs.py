"""Runs of netlink messages of one compiled layout, checked and read at once.

A datagram of NFLOG packets logged by one rule holds many messages of one length and one
attribute layout, ``step`` bytes apart. Every byte a layout fixes (headers, prefix, constants)
is checked for a whole run with one strided slice per byte (``data[o::step]``: that byte of
every message) and ``lstrip``, all in C; the run ends at the first message where any of them
differs. Then ``struct.iter_unpack`` reads the run's rows in one call, so the per-message Python
bytecode mostly disappears (the NFLOG tally and the events' fast path both do this).
"""

from collections.abc import Callable, Iterator

Fixed = tuple[tuple[int, bytes], ...]  # (offset in the message, the byte there), every one
FIRST = 64  # messages checked first: a run that ends early does not cost the whole datagram


def fixed_bytes(data: bytes, spans: list[tuple[int, int]]) -> Fixed:
    """The bytes of ``data`` (one message) at the (offset, length) ``spans``, one by one."""
    return tuple((o, data[o : o + 1]) for start, n in spans for o in range(start, start + n))


def run_length(data: bytes, off: int, step: int, fixed: Fixed, most: int) -> int:
    """How many of the ``most`` messages from ``off`` on, ``step`` bytes apart, one after the
    other, have every byte of ``fixed``."""
    n = most
    for o, b in fixed:
        column = data[off + o : off + o + most * step : step]
        if column != b * most:  # a memcmp; lstrip only where it differs
            left = len(column.lstrip(b))
            if most - left < n:
                n = most - left
                if not n:
                    return 0
    return n


def run_rows(rows: Callable[[memoryview], Iterator[tuple]], step: int, fixed: Fixed,
             data: bytes, view: memoryview, off: int) -> list[tuple]:
    """The rows (read by ``rows``) of the run of messages starting at ``off``: every one has the
    ``fixed`` bytes; it ends before the first that has not (or the datagram's end)."""
    most = (len(data) - off) // step
    n = run_length(data, off, step, fixed, min(most, FIRST))
    if n == FIRST < most:
        n += run_length(data, off + n * step, step, fixed, most - n)
    return list(rows(view[off : off + n * step]))
