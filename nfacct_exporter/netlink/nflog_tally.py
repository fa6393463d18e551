"""Tallying NFLOG packets straight from the datagram bytes: per raw prefix, packets and IP bytes,
and the sequence numbers the kernel skipped (lost).

Only what counting needs is read from each packet: the prefix, the per-group sequence number
(NFULNL_CFG_F_SEQ) and the IP length field of the first bytes of the payload (IPv4 total
length at bytes 2–3, IPv6 payload length at 4–5, plus 40 for the fixed header). Checked in the
tests against the pyroute2 declaration (``nflog.nflog_packet_msg``) on kernel-made and synthetic
bytes.
"""

import struct
from collections.abc import Callable, Iterator
from itertools import repeat
from operator import and_, eq, itemgetter

from nfacct_exporter.netlink import core, runs
from nfacct_exporter.netlink.nflog import EMPTY, NFULA_PAYLOAD, NFULA_PREFIX, NFULA_SEQ, ULOG_PACKET
from nfacct_exporter.netlink.runs import run_rows


def tally(data: bytes, counts: dict[bytes, list[int]], admit: Callable[[bytes], list[int]],
          expect: int) -> tuple[int, int, int]:
    """Add every packet of one NFLOG datagram to ``counts`` → (next seq, lost, packets).

    ``counts`` maps the raw NFULA_PREFIX payload (NUL included; ``EMPTY`` when absent) to a
    ``[packets, bytes]`` list; an unknown prefix asks ``admit`` for its list (the caller applies
    its cardinality cap there). ``expect`` is the next sequence number the group should send;
    a jump counts the skipped packets as lost (the kernel dropped them: socket buffer full).
    Bytes are the IP packet length (0 when the payload is too short to hold it, or not IP).

    Fast path: packets logged by one rule share one attribute layout, so each message is tried
    with the compiled layout of the messages of the same length, header and prefix: one
    ``struct`` format reads the netlink header, every attribute header, the prefix, the
    sequence number and the IP length fields, and a message is taken only if every header
    (type and length, so every offset) is the layout's: exactly what the attribute walk would
    read. When the RUN_MIN-th message ahead starts as this one, the run of messages with all of
    the layout's bytes and consecutive sequence numbers is checked, read and summed at once
    (``runs.run_rows``, then C-level ``map``/``sum``); shorter runs cost less one by one.
    """
    unpack_hdr = core.LEN_TYPE.unpack_from
    layouts = _LAYOUTS
    packet_type = ULOG_PACKET
    off = lost = packets = 0
    total = len(data)
    view = memoryview(data)
    next_try = 0  # where to look for a run again
    while off + 20 <= total:
        length, mtype = unpack_hdr(data, off)
        end = off + length
        if length < 20 or end > total:
            break
        if mtype == packet_type:
            prefix = None
            if length >= 32:
                k = off + 28  # where the kernel puts NFULA_PREFIX, after NFULA_PACKET_HDR
                probe = data[off + 20 : k + (data[k] | data[k + 1] << 8)]
                lay = layouts.get((length, probe), False)
                if lay is False:
                    if len(layouts) >= LAYOUTS_MAX:
                        layouts.clear()
                    lay = layouts[(length, probe)] = _layout(data, off, end)
                if lay is not None:
                    one, i_seq, head, payload, prefix, step, rows_of, fixed = lay
                    v = one(data, off)
                    if v[:i_seq] != head or v[i_seq + 1] != payload:
                        prefix = None
                    else:
                        if off >= next_try and _runs(data, off, step, probe):
                            rows = run_rows(rows_of, step, fixed, data, view, off)
                            n, size, seq = _sum(rows)
                            c = counts.get(prefix)
                            if c is None:
                                c = admit(prefix)
                            c[0] += n
                            c[1] += size
                            packets += n
                            if rows[0][0] != expect:
                                lost += (rows[0][0] - expect) & 0xFFFFFFFF
                            expect = (seq + 1) & 0xFFFFFFFF
                            off += n * step
                            continue
                        next_try = off + RUN_GAP * step  # not a run: look again a little later
                        seq, version = v[-5], v[-3] >> 4
                        size = v[-2] if version == 4 else v[-1] + 40 if version == 6 else 0
            if prefix is None:
                prefix, seq, size = _walk(data, off + 20, end)
            c = counts.get(prefix)
            if c is None:
                c = admit(prefix)
            c[0] += 1
            c[1] += size
            packets += 1
            if seq >= 0:
                if seq != expect:
                    lost += (seq - expect) & 0xFFFFFFFF
                expect = (seq + 1) & 0xFFFFFFFF
        off += (length + 3) & ~3
    return expect, lost, packets


def _runs(data: bytes, off: int, step: int, probe: bytes) -> bool:
    """Whether the next message and the RUN_MIN-th from ``off`` start as the one at ``off``
    (length, type, attributes up to the prefix): likely a run worth reading at once."""
    head = data[off : off + 6]
    for at in (off + (RUN_MIN - 1) * step, off + step):
        if data[at : at + 6] != head or data[at + 20 : at + 20 + len(probe)] != probe:
            return False
    return True


def _sum(rows: list[tuple]) -> tuple[int, int, int]:
    """(packets, IP bytes, last seq) of a run of rows, cut (in place) before the first seq that
    does not follow the one before (the rest is the next run's)."""
    n = len(rows)
    seqs = list(map(_SEQ, rows))
    want = list(map(and_, range(seqs[0], seqs[0] + n), repeat(0xFFFFFFFF)))
    if seqs != want:
        n = list(map(eq, seqs, want)).index(False)
        del rows[n:]
    versions = {b >> 4 for b in set(map(_VERSION, rows))}
    if versions == {4}:
        size = sum(map(_IP4_LEN, rows))
    elif versions == {6}:
        size = sum(map(_IP6_LEN, rows)) + 40 * n
    else:
        size = sum(v[2] if v[1] >> 4 == 4 else v[3] + 40 if v[1] >> 4 == 6 else 0
                   for v in rows)
    return n, size, rows[-1][0]


_SEQ, _VERSION, _IP4_LEN, _IP6_LEN = itemgetter(0), itemgetter(1), itemgetter(2), itemgetter(3)


def _walk(data: bytes, a: int, end: int) -> tuple[bytes, int, int]:
    """(raw prefix, seq or -1, IP length) of the message whose attributes span [a, end)."""
    prefix, seq, size = EMPTY, -1, 0
    unpack_attr = core.ATTR.unpack_from
    while a + 4 <= end:
        alen, atype = unpack_attr(data, a)
        if alen < 4 or a + alen > end:
            break
        atype &= core.NLA_TYPE_MASK
        if atype == NFULA_PREFIX:
            prefix = data[a + 4 : a + alen]
        elif atype == NFULA_SEQ and alen >= 8:
            seq = core.BE32.unpack_from(data, a + 4)[0]
        elif atype == NFULA_PAYLOAD:
            if alen >= 8:
                version = data[a + 4] >> 4
                if version == 4:
                    size = data[a + 6] << 8 | data[a + 7]
                elif version == 6 and alen >= 10:
                    size = (data[a + 8] << 8 | data[a + 9]) + 40
            break  # the kernel puts the payload last
        a += (alen + 3) & ~3
    return prefix, seq, size


# A compiled layout, a plain tuple (unpacked fast): (unpack one message without its netlink
# header (the key says it), index of the seq in its values (before it: ``head``, after it: the
# payload attribute header), head, payload header, raw prefix, the message's step, and for runs:
# iter_unpack of whole messages into (seq, IP version byte, IPv4 and IPv6 length fields), and
# the bytes every message of the layout has (``runs.run_rows``)).
_Tally = tuple[Callable[[bytes, int], tuple], int, tuple, bytes, bytes, int,
               Callable[[memoryview], Iterator[tuple]], runs.Fixed]


_LAYOUTS: dict[tuple[int, bytes], _Tally | None] = {}  # only the listener thread writes it
LAYOUTS_MAX = 4096
RUN_MIN = 16  # shorter runs cost less one message at a time (measured)
RUN_GAP = 4  # messages taken one at a time before looking for a run again (the look costs)


def _layout(data: bytes, off: int, end: int) -> _Tally | None:
    """Compile the layout of the message at ``off``: its rows are (netlink header, the attribute
    headers and prefix before the seq, seq, payload attribute header, IP version byte, IPv4
    total length, IPv6 payload length). None when the fast path does not apply: no seq, or the
    seq not followed by a last payload attribute holding the 6 bytes both IP length fields
    need."""
    fmt, head, prefix = [">20x"], [], EMPTY
    spans = [(0, 6)]  # what every message of the layout has: netlink header, attribute headers,
    seq = -1  # prefix; where the seq is
    a = off + 20
    while a + 4 <= end:
        alen, atype = core.ATTR.unpack_from(data, a)
        if alen < 4 or a + alen > end:
            return None
        atype &= core.NLA_TYPE_MASK  # as _walk does
        step = (alen + 3) & ~3
        if seq >= 0:  # the attribute after the seq: it must be the payload, last
            if atype != NFULA_PAYLOAD or alen < 10 or a + step != end:
                return None
            fmt.append("4sBxHH")  # header, version byte, IPv4 total length, IPv6 payload length
            size = (end - off + 3) & ~3
            spans.append((a - off, 4))
            row = f">{seq}xI4xBxHH{size - seq - 14}x"
            return (struct.Struct("".join(fmt)).unpack_from, len(head), tuple(head),
                    data[a : a + 4], prefix, size, struct.Struct(row).iter_unpack,
                    runs.fixed_bytes(data[off:end], spans))
        fmt.append("4s")
        head.append(data[a : a + 4])
        spans.append((a - off, 4))
        if atype == NFULA_PREFIX:
            prefix = data[a + 4 : a + alen]
            fmt.append(f"{alen - 4}s{step - alen}x")
            head.append(prefix)
            spans.append((a + 4 - off, alen - 4))
        elif atype == NFULA_SEQ and alen == 8:
            fmt.append("I")
            seq = a + 4 - off
        elif atype in (NFULA_SEQ, NFULA_PAYLOAD):
            return None
        else:
            fmt.append(f"{step - 4}x")
        a += step
    return None
