"""NFLOG (``linux/netfilter/nfnetlink_log.h``): constants, the declared messages, binding a
group, and the hot path that tallies logged packets straight from the datagram bytes.

Why by hand: pyroute2's message classes parse ~8–14k packets/s; an attribute walk with ``struct``
~650k/s on one core here, and ``tally``'s compiled-layout fast path ~1M/s. The CONFIG request is
built with ``struct`` and checked in the tests against ``nflog_config_msg``, and ``tally`` against
``nflog_packet_msg`` on the same (kernel-made and synthetic) bytes; both pyroute2 declarations are
made on first use, so the daemon never imports pyroute2.

Only what counting needs is read from each packet: the prefix, the per-group sequence number
(NFULNL_CFG_F_SEQ, to count what the kernel could not deliver) and the IP length field of the
first bytes of the payload (``COPY_RANGE`` bytes are copied: IPv4 total length is at bytes 2–3,
IPv6 payload length at 4–5, plus 40 for the fixed header).
"""

import errno
import os
import struct
from collections.abc import Callable
from itertools import repeat
from operator import and_, eq, itemgetter
from typing import Any

from nfacct_exporter.netlink import core
from nfacct_exporter.netlink.runs import same_layout_rows
from nfacct_exporter.netlink.socket import NetfilterSocket

# enum nfulnl_msg_types
ULOG_PACKET = (core.NFNL_SUBSYS_ULOG << 8) | 0  # NFULNL_MSG_PACKET
ULOG_CONFIG = (core.NFNL_SUBSYS_ULOG << 8) | 1  # NFULNL_MSG_CONFIG
NFULNL_CFG_CMD_BIND = 1
NFULNL_COPY_PACKET = 2
NFULNL_CFG_F_SEQ = 0x0001
# enum nfulnl_attr_type
NFULA_PACKET_HDR, NFULA_PAYLOAD, NFULA_PREFIX, NFULA_SEQ = 1, 9, 10, 12
# enum nfulnl_attr_config
NFULA_CFG_CMD, NFULA_CFG_MODE, NFULA_CFG_NLBUFSIZ = 1, 2, 3
NFULA_CFG_TIMEOUT, NFULA_CFG_QTHRESH, NFULA_CFG_FLAGS = 4, 5, 6


def __getattr__(name: str) -> Any:
    """The pyroute2 declarations (``nflog_config_msg``, ``nflog_packet_msg``), made (and
    pyroute2 imported) on first use."""
    if name in ("nflog_config_msg", "nflog_packet_msg"):
        from nfacct_exporter.netlink import nflog_declared

        globals().update(nflog_declared.declare())
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


COPY_RANGE = 8  # bytes of each packet the kernel copies to us: enough for both length fields
# Groups with packet events: enough for the IPv4 header with options (60) and a TCP header with
# options (60), or the IPv6 header (40) and TCP with options, as ulogd's BASE decodes them.
HEADERS_COPY_RANGE = 128
# Kernel batch size: alloc_skb() rounds up to a power of two after adding its ~320-byte tail, so
# 64 KiB - 1 KiB is one order-4 GFP_ATOMIC allocation per batch (~470 of our packets), while the
# kernel's maximum (128 KiB) would become an order-6 one (256 KiB) for no gain: measured, the
# receive buffer holds the same number of packets either way.
NLBUFSIZ = 64 * 1024 - 1024
EMPTY = b"\0"  # prefix key of a packet logged without prefix (same as an empty prefix)


class BindError(OSError):
    """The kernel refused to give us an NFLOG group; ``str()`` is one line naming it and why."""

    def __init__(self, code: int, group: int, where: str = "") -> None:
        super().__init__(code, _why(code, group, where))
        self.group = group

    def __str__(self) -> str:
        return str(self.strerror)


def _why(code: int, group: int, where: str) -> str:
    head = f"cannot bind NFLOG group {group}{where}"
    if code in (errno.EPERM, errno.EBUSY, errno.EEXIST):
        if code == errno.EPERM and not has_net_admin():
            return f"{head}: permission denied: CAP_NET_ADMIN is required"
        return (f"{head}: it is already bound by another netlink socket (ulogd, another "
                f"exporter?) ({os.strerror(code)}); stop that listener or use another group")
    if code in (errno.EPROTONOSUPPORT, errno.EOPNOTSUPP, errno.ENOENT):
        return (f"{head}: the kernel does not answer NFLOG requests ({os.strerror(code)}): "
                "load nfnetlink_log (modprobe nfnetlink_log)")
    return f"{head}: {os.strerror(code)}"


def has_net_admin() -> bool:
    """Whether this process holds CAP_NET_ADMIN (bit 12 of CapEff)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> 12 & 1)
    except OSError:
        pass
    return True


def config_request(group: int, seq: int, qthreshold: int, qtimeout: int,
                   nlbufsiz: int = NLBUFSIZ, copy_range: int = COPY_RANGE) -> bytes:
    """BIND ``group`` and configure it in one message: packet copy of ``copy_range`` bytes,
    batches of up to ``qthreshold`` packets / ``nlbufsiz`` bytes flushed after ``qtimeout``
    hundredths of a second, and per-group sequence numbers."""
    attrs = b"".join((
        core.attr(NFULA_CFG_CMD, bytes([NFULNL_CFG_CMD_BIND])),
        core.attr(NFULA_CFG_MODE, struct.pack(">IBx", copy_range, NFULNL_COPY_PACKET)),
        core.attr(NFULA_CFG_NLBUFSIZ, core.BE32.pack(nlbufsiz)),
        core.attr(NFULA_CFG_QTHRESH, core.BE32.pack(qthreshold)),
        core.attr(NFULA_CFG_TIMEOUT, core.BE32.pack(qtimeout)),
        core.attr(NFULA_CFG_FLAGS, struct.pack(">H", NFULNL_CFG_F_SEQ)),
    ))
    flags = core.NLM_F_REQUEST | core.NLM_F_ACK
    return core.request(ULOG_CONFIG, flags, seq, attrs, res_id=group)


def bind(sock: NetfilterSocket, group: int, qthreshold: int, qtimeout: int,
         where: str = "", copy_range: int = COPY_RANGE) -> None:
    """Bind and configure one group on ``sock``; raise BindError (one clear line) if refused."""
    request = config_request(group, sock.next_seq(), qthreshold, qtimeout, copy_range=copy_range)
    code = sock.transact([request])[0]
    if code:
        raise BindError(code, group, where)


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
    read. A run of such messages with consecutive sequence numbers is read and summed at once
    (``same_layout_rows``, then C-level ``map``/``sum``).
    """
    unpack_hdr = core.LEN_TYPE.unpack_from
    layouts = _LAYOUTS
    packet_type = ULOG_PACKET
    off = lost = packets = 0
    total = len(data)
    view = memoryview(data)
    while off + 20 <= total:
        length, mtype = unpack_hdr(data, off)
        end = off + length
        if length < 20 or end > total:
            break
        if mtype == packet_type:
            if length >= 32:
                k = off + 28  # where the kernel puts NFULA_PREFIX, after NFULA_PACKET_HDR
                key = (length, data[off + 20 : k + (data[k] | data[k + 1] << 8)])
                lay = layouts.get(key, False)
                if lay is False:
                    if len(layouts) >= LAYOUTS_MAX:
                        layouts.clear()
                    lay = layouts[key] = _layout(data, off, end)
                if lay is not None:
                    v = lay.unpack(data, off)
                    if lay.check(v) == lay.const:
                        rows = same_layout_rows(lay, v, view, off + lay.step)
                        n, size, seq = _sum(rows)
                        c = counts.get(lay.prefix)
                        if c is None:
                            c = admit(lay.prefix)
                        c[0] += n
                        c[1] += size
                        packets += n
                        if rows[0][-5] != expect:
                            lost += (rows[0][-5] - expect) & 0xFFFFFFFF
                        expect = (seq + 1) & 0xFFFFFFFF
                        off += n * lay.step
                        continue
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
        size = sum(v[-2] if v[-3] >> 4 == 4 else v[-1] + 40 if v[-3] >> 4 == 6 else 0
                   for v in rows)
    return n, size, rows[-1][-5]


_SEQ, _VERSION, _IP4_LEN, _IP6_LEN = itemgetter(-5), itemgetter(-3), itemgetter(-2), itemgetter(-1)


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


class _Tally:
    __slots__ = ("unpack", "rows", "step", "check", "const", "prefix")


_LAYOUTS: dict[tuple[int, bytes], _Tally | None] = {}  # only the listener thread writes it
LAYOUTS_MAX = 4096


def _layout(data: bytes, off: int, end: int) -> _Tally | None:
    """Compile the layout of the message at ``off``: its rows are (netlink header, the attribute
    headers and prefix before the seq, seq, payload attribute header, IP version byte, IPv4
    total length, IPv6 payload length). None when the fast path does not apply: no seq, or the
    seq not followed by a last payload attribute holding the 6 bytes both IP length fields
    need."""
    fmt, head, prefix = [">6s14x"], [data[off : off + 6]], EMPTY
    seq = False
    a = off + 20
    while a + 4 <= end:
        alen, atype = core.ATTR.unpack_from(data, a)
        if alen < 4 or a + alen > end:
            return None
        atype &= core.NLA_TYPE_MASK  # as _walk does
        step = (alen + 3) & ~3
        if seq:  # the attribute after the seq: it must be the payload, last
            if atype != NFULA_PAYLOAD or alen < 10 or a + step != end:
                return None
            fmt.append("4sBxHH")  # header, version byte, IPv4 total length, IPv6 payload length
            lay = _Tally()
            lay.step = (end - off + 3) & ~3
            form = "".join(fmt)
            lay.unpack = struct.Struct(form).unpack_from
            lay.rows = struct.Struct(f"{form}{lay.step - struct.calcsize(form)}x").iter_unpack
            n = len(head)
            lay.check = itemgetter(*range(n), n + 1)
            lay.const = (*head, data[a : a + 4])
            lay.prefix = prefix
            return lay
        fmt.append("4s")
        head.append(data[a : a + 4])
        if atype == NFULA_PREFIX:
            prefix = data[a + 4 : a + alen]
            fmt.append(f"{alen - 4}s{step - alen}x")
            head.append(prefix)
        elif atype == NFULA_SEQ and alen == 8:
            fmt.append("I")
            seq = True
        elif atype in (NFULA_SEQ, NFULA_PAYLOAD):
            return None
        else:
            fmt.append(f"{step - 4}x")
        a += step
    return None
