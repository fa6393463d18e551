"""NFACCT dumps that cost what changed: each reply datagram is compared with the one at the same
place in the last dump, and its objects reused, or only its packet and byte counters read.

The socket keeps its dump sequence number (``NetfilterSocket.dump_seq``), so a datagram whose
objects did not change comes back byte for byte the same: its objects are the very records of the
last dump (the Graphite sink tells unchanged objects by identity). A datagram whose bytes differ
only in packet and byte counts (the layout, names, headers and USE the same, checked at once as
one masked integer) has them read by one ``struct`` call compiled for that layout; the rest of
each record (``rules``: USE changes only when a rule is added or removed) is the layout's.
Anything else is decoded message by message (``nfacct.decode``).
"""

import struct
from itertools import repeat
from typing import NamedTuple

from nfacct_exporter.netlink import nfacct
from nfacct_exporter.netlink.socket import NetfilterSocket
from nfacct_exporter.records import NfacctObject

_PKTS_AT = 4  # the PKTS value, after its attribute header, from the start of the 32-byte tail
_BYTES_AT = 16


class Layout(NamedTuple):
    """Where one datagram's counters are, and what everything around them must be."""

    mask: int  # 1 bits over every byte of [start, end) but the packet and byte values
    fixed: int  # the datagram's [start, end) as an integer, masked
    counters: struct.Struct  # reads (packets, bytes) of every object, in order
    names: list[str]
    rules: list[int]


class Seen(NamedTuple):
    """One datagram of the last dump."""

    data: bytes
    start: int
    objects: list[NfacctObject]
    end: int
    layout: Layout | None | bool  # False: not compiled yet; None: no fixed layout


def layout(data: bytes, start: int, end: int, objects: list[NfacctObject]) -> Layout | None:
    """The layout of [start, end) if every message in it is an object in the kernel's layout
    without quota (``nfacct._decode``'s fast path) and ``objects`` are what it decoded."""
    fmt, mask = [">"], bytearray(b"\xff" * (end - start))
    pos = off = start
    for obj in objects:
        if off + 24 > end or obj.quota is not None or obj.flags:
            return None
        length, mtype, alen, atype = nfacct._HEAD.unpack_from(data, off)
        tail = off + 20 + ((alen + 3) & ~3)
        if (mtype != nfacct.ACCT_NEW or atype != nfacct.NFACCT_NAME or off + length > end
                or off + length - tail != nfacct._TAIL_LEN):
            return None
        ph, _, bh, _, uh, _ = nfacct._TAIL.unpack_from(data, tail)
        if (ph, bh, uh) != (nfacct._PKTS_HDR, nfacct._BYTES_HDR, nfacct._USE_HDR):
            return None
        for at in (_PKTS_AT, _BYTES_AT):
            mask[tail + at - start : tail + at + 8 - start] = bytes(8)
        fmt.append(f"{tail + _PKTS_AT - pos}xQ4xQ")
        pos = tail + _BYTES_AT + 8
        off += length
    if off != end:
        return None
    m = int.from_bytes(mask, "little")
    return Layout(m, int.from_bytes(data[start:end], "little") & m, struct.Struct("".join(fmt)),
                  [o.name for o in objects], [o.rules for o in objects])


class Dumper:
    """Every NFACCT object of a socket's namespace, once per call (plain GET: counters are not
    reset), decoding only the reply datagrams that changed since the last call. ``errors``
    counts the malformed messages skipped since the Dumper was made."""

    def __init__(self) -> None:
        self.errors = 0
        self._last: list[Seen] = []

    def __call__(self, sock: NetfilterSocket) -> list[NfacctObject]:
        out: list[NfacctObject] = []
        last, now = self._last, []

        def consume(data: bytes, off: int) -> int:
            i = len(now)
            seen = last[i] if i < len(last) else None
            if seen is not None and off == seen.start and len(data) == len(seen.data):
                if data == seen.data:
                    out.extend(seen.objects)
                    now.append(seen)
                    return seen.end
                lay = seen.layout
                if lay is False:
                    lay = layout(seen.data, off, seen.end, seen.objects)
                if lay is not None and (int.from_bytes(data[off : seen.end], "little")
                                        & lay.mask) == lay.fixed:
                    values = lay.counters.unpack_from(data, off)
                    objects = list(map(tuple.__new__, repeat(NfacctObject), zip(
                        lay.names, values[0::2], values[1::2], repeat(0), repeat(None),
                        repeat(None), repeat(False), lay.rules)))
                    out.extend(objects)
                    now.append(Seen(data, off, objects, seen.end, lay))
                    return seen.end
            mark = len(out)
            end, bad = nfacct._decode(data, out, off)
            self.errors += bad
            now.append(Seen(data, off, out[mark:], end, False))
            return end

        sock.dump_into(nfacct.acct_dump_request(sock.dump_seq()), consume)
        self._last = now
        return out
