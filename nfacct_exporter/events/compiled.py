"""Compiling the ulogd format's fast path: one ``struct`` format and one %-template per layout.

Packets logged by one rule share a layout: the same attributes at the same offsets, the same
prefix, interfaces, IP version, header length, L4 protocol, TCP flags or ICMP type. The first
packet of a layout is rendered by the reference path (``packet.ulogd_fields``), which also
gives the line's keys; the layout then compiles to a struct format reading the netlink header
and every attribute header and header field at its offset, the fields that must match for the
layout to apply (everything that decides which keys a line has, or that is written as a
constant), and a %-template holding the constants. ``fast.py`` applies it to whole runs of
messages. A packet that does not match (or that the fast path does not cover: bridge family,
IPv6 extension headers, other L4 protocols, a length field shorter than what was copied) goes
the reference way; the tests check both give the same bytes.
"""

import struct
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from operator import itemgetter

from nfacct_exporter.events import packet
from nfacct_exporter.netlink import runs

LAYOUTS_MAX = 1024  # (length, prefix) keys remembered; then forgotten all at once
PER_KEY = 8  # layouts tried per key (e.g. SYN and SYN-ACK of one rule with equal lengths)
_FROM = {"raw.pktlen": "pktlen", "oob.time.sec": "sec", "oob.time.usec": "usec",
         "oob.in": "in", "oob.out": "out", "src_ip": "src", "dest_ip": "dst",
         "ip6.priority": "prio", "ip6.flowlabel": "flow", "icmp.csum": "icsum",
         "icmpv6.csum": "icsum"}


COMPUTED = ("head", "usec", "tz", "pktlen", "src", "dst", "in", "out", "prio", "flow", "icsum",
            "sec")  # the values added after the unpacked ones, in this order
_TEXT = {"src", "dst", "in", "out"}  # computed values written as they are (JSON strings)


class Layout:
    """One compiled layout: ``unpack`` reads one message, ``rows`` a run of them (``step`` bytes
    apart); ``check(v) == const`` says a message has it; ``pick`` takes the (bytes) template's
    values from the unpacked ones followed by the ``COMPUTED`` ones."""

    __slots__ = ("unpack", "rows", "step", "check", "const", "fixed", "i_len", "min_len", "v6",
                 "i_sec",
                 "i_sechi", "i_usec", "i_addr", "i_flow", "i_csum", "indev", "outdev",
                 "pick", "template")


class Builder:
    """Walks one message, collecting the struct format, the bytes that must match and the
    indexes of the named fields. Adjacent bytes that must match are read as one field (fewer
    objects per message, one comparison)."""

    def __init__(self) -> None:
        self.ops: list[tuple[str | None, object]] = []

    def const(self, raw: bytes) -> None:
        if self.ops and self.ops[-1][0] is None:
            self.ops[-1] = (None, self.ops[-1][1] + raw)  # type: ignore[operator]
        else:
            self.ops.append((None, raw))

    def field(self, code: str, name: str) -> None:
        self.ops.append((code, name))

    def skip(self, n: int) -> None:
        if n:
            self.ops.append(("x", n))

    def finish(self) -> tuple[str, dict[str, int], list[int], tuple[bytes, ...],
                              list[tuple[int, int]]]:
        """(struct format, field name → index, indexes that must match, their bytes, where
        those are in the message: (offset, length))."""
        fmt, index, checks, consts, spans = [">"], {}, [], [], []
        n = pos = 0
        for code, x in self.ops:
            if code == "x":
                fmt.append(f"{x}x")
                pos += x  # type: ignore[operator]
                continue
            if code is None:
                fmt.append(f"{len(x)}s")  # type: ignore[arg-type]
                checks.append(n)
                consts.append(x)
                spans.append((pos, len(x)))  # type: ignore[arg-type]
                pos += len(x)  # type: ignore[arg-type]
            else:
                fmt.append(code)
                index[x] = n  # type: ignore[index]
                pos += struct.calcsize(">" + code)
            n += 1
        return "".join(fmt), index, checks, tuple(consts), spans  # type: ignore[arg-type]


_VAR32 = {packet.NFULA_MARK: "oob.mark", packet.NFULA_UID: "oob.uid",
          packet.NFULA_GID: "oob.gid", packet.NFULA_SEQ: "oob.seq.local",
          packet.NFULA_SEQ_GLOBAL: "oob.seq.global"}
_CONST32 = {packet.NFULA_IFINDEX_INDEV, packet.NFULA_IFINDEX_OUTDEV}
_CONST16 = {packet.NFULA_HWTYPE, packet.NFULA_HWLEN}


def compile_layout(data: bytes, off: int, end: int, fields: packet.Fields, dvc_part: str
                   ) -> Layout | None:
    """The layout of the message at ``off`` whose reference rendering is ``fields``; None when
    the fast path does not cover it."""
    b = Builder()
    b.const(data[off : off + 6])  # nlmsg_len (host order), nlmsg_type
    b.skip(10)
    b.const(data[off + 16 : off + 20])  # nfgenmsg: family, version, group
    unpack_attr = struct.Struct("=HH").unpack_from
    a = off + 20
    indev = outdev = 0
    lay = Layout()
    while a + 4 <= end:
        alen, atype = unpack_attr(data, a)
        step = (alen + 3) & ~3
        if alen < 4 or a + alen > end or atype & ~0x3FFF:
            return None
        b.const(data[a : a + 4])
        v = a + 4
        if atype == packet.NFULA_PAYLOAD:
            if a + step != end or not _payload(b, lay, data, off, v, alen - 4):
                return None
            break
        if atype == packet.NFULA_PACKET_HDR and alen == 8:
            b.const(data[v : v + 4])  # the pad byte too: it is part of the key
        elif atype == packet.NFULA_PREFIX:
            b.const(data[v : a + step])  # with the padding (the kernel zeroes it)
        elif atype in _CONST32 and alen == 8:
            value = struct.unpack_from(">I", data, v)[0]
            b.const(data[v : v + 4])
            if atype == packet.NFULA_IFINDEX_INDEV:
                indev = value
            else:
                outdev = value
        elif atype in _VAR32 and alen == 8:
            b.field("I", _VAR32[atype])
        elif atype == packet.NFULA_TIMESTAMP and alen == 20:  # two be64: sec, usec
            b.field("I", "_sechi")
            b.field("I", "_sec")  # written as ulogd does: the low 32 bits
            b.skip(4)
            b.field("I", "_usec")
        elif atype == packet.NFULA_HWADDR and alen == 16:
            b.const(data[v : v + 2])
            b.skip(10)
        elif atype in _CONST16 and alen == 6:
            b.const(data[v : v + 4])  # with the padding
        elif atype in _VAR32 or atype in _CONST32 or atype in _CONST16 or atype in (
                packet.NFULA_PACKET_HDR, packet.NFULA_TIMESTAMP, packet.NFULA_HWADDR):
            return None  # a length the reference path reads differently
        else:
            b.skip(step - 4)  # not read by ulogd's NFLOG input (hardware header, conntrack)
        a += step
    else:
        return None  # no payload
    fmt, idx, checks, consts, spans = b.finish()
    n_fields = len(checks) + len(idx)
    size = struct.calcsize(fmt)
    lay.step = (end - off + 3) & ~3
    lay.unpack = struct.Struct(fmt).unpack_from
    lay.rows = struct.Struct(f"{fmt}{lay.step - size}x").iter_unpack
    lay.check = itemgetter(*checks, *checks[:1])  # a tuple, even of one
    lay.const = consts + consts[:1]
    lay.fixed = runs.fixed_bytes(data[off:end], spans)
    lay.i_sec, lay.i_sechi, lay.i_usec = (idx.get(k) for k in ("_sec", "_sechi", "_usec"))
    lay.i_len = idx["ip6.payloadlen" if lay.v6 else "ip.totlen"]
    lay.i_addr = (idx["_src"], idx["_dst"])
    lay.i_flow, lay.i_csum = idx.get("_flow"), idx.get("_csum")
    lay.indev, lay.outdev = indev, outdev

    def column(name: str) -> int:
        return n_fields + COMPUTED.index(name)

    parts = ['"timestamp": "%s.%06d%s"', dvc_part.replace("%", "%%")]
    pick = [column("head"), column("usec"), column("tz")]
    for k, value in fields:
        key = encode_basestring(k) + ": "
        src = _FROM.get(k)
        if src is not None:
            parts.append(key + ("%s" if src in _TEXT else "%d"))
            pick.append(column(src))
        elif k in idx:
            parts.append(key + "%d")
            pick.append(idx[k])
        else:
            text = encode_basestring(value) if isinstance(value, str) else str(value)
            parts.append(key + text.replace("%", "%%"))
    lay.template = ("{" + ", ".join(parts) + "}\n").encode()
    lay.pick = itemgetter(*pick)
    return lay


def _payload(b: Builder, lay: Layout, data: bytes, off: int, p: int, n: int) -> bool:
    """IPv4 or IPv6 (no extension headers) + TCP/UDP/ICMP(v6) fields; False if not covered."""
    family = data[off + 16]
    if family == 2 and n >= 20:
        ihl = data[p] & 0x0F
        proto = data[p + 9]
        hl = ihl * 4
        if ihl < 5 or proto not in _L4_V4 or n < hl + _L4_V4[proto]:
            return False
        b.const(data[p : p + 1])
        b.field("B", "ip.tos")
        b.field("H", "ip.totlen")
        b.field("H", "ip.id")
        b.field("H", "ip.fragoff")
        b.field("B", "ip.ttl")
        b.const(data[p + 9 : p + 10])
        b.field("H", "ip.csum")
        b.field("4s", "_src")
        b.field("4s", "_dst")
        b.skip(hl - 20)
        lay.v6 = False
    elif family == 10 and n >= 40:
        proto = data[p + 6]
        hl = 40
        if proto not in _L4_V6 or n < hl + _L4_V6[proto]:
            return False
        b.field("I", "_flow")
        b.field("H", "ip6.payloadlen")
        b.const(data[p + 6 : p + 7])
        b.field("B", "ip6.hoplimit")
        b.field("16s", "_src")
        b.field("16s", "_dst")
        lay.v6 = True
    else:
        return False
    lay.min_len = n - 40 if lay.v6 else n  # the length field must cover what was copied
    q = p + hl
    if proto == 6:
        for name, code in (("src_port", "H"), ("dest_port", "H"), ("tcp.seq", "I"),
                           ("tcp.ackseq", "I")):
            b.field(code, name)
        b.const(data[q + 12 : q + 14])
        for name in ("tcp.window", "tcp.csum", "tcp.urgp"):
            b.field("H", name)
    elif proto == 17:
        for name in ("src_port", "dest_port", "udp.len", "udp.csum"):
            b.field("H", name)
    else:  # ICMP (IPv4) or ICMPv6
        key = "icmpv6" if lay.v6 else "icmp"
        b.const(data[q : q + 2])
        b.field("2s", "_csum")  # read in host (little-endian) byte order, as ulogd
        b.field("H", f"{key}.echoid")  # the line has only the keys this ICMP type has
        b.field("H", "icmp.fragmtu" if not lay.v6 and data[q] == 3 else f"{key}.echoseq")
    return True


_L4_V4 = {6: 20, 17: 8, 1: 8}  # L4 protocol → header bytes the fast path reads
_L4_V6 = {6: 20, 17: 8, 58: 8}
