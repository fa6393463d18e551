"""The fast path of the ulogd format: one ``struct`` call and one %-format per packet.

Packets logged by one rule share a layout: the same attributes at the same offsets, the same
prefix, interfaces, IP version, header length, L4 protocol, TCP flags or ICMP type. The first
packet of a layout is rendered by the reference path (``packet.ulogd_fields``), which also
gives the line's keys; the layout then compiles to a struct format reading every attribute
header and header field at its offset, the fields that must match for the layout to apply
(everything that decides which keys a line has, or that is written as a constant), and a
%-template holding the constants, so later packets cost one unpack, one comparison and one
format. A packet that does not match (or that the fast path does not cover: bridge family, IPv6
extension headers, other L4 protocols, a length field shorter than what was copied) goes the
reference way; the tests check both give the same bytes.
"""

import socket
import struct
from collections.abc import Callable
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from operator import itemgetter

from nfacct_exporter.events import packet

LAYOUTS_MAX = 1024  # (length, prefix) keys remembered; then forgotten all at once
PER_KEY = 8  # layouts tried per key (e.g. SYN and SYN-ACK of one rule with equal lengths)
_COMPUTED = ("head", "usec", "tz", "pktlen", "src", "dst", "in", "out", "prio", "flow", "icsum",
             "sec")
_FROM = {"raw.pktlen": "pktlen", "oob.time.sec": "sec", "oob.time.usec": "usec",
         "oob.in": "in", "oob.out": "out", "src_ip": "src", "dest_ip": "dst",
         "ip6.priority": "prio", "ip6.flowlabel": "flow", "icmp.csum": "icsum",
         "icmpv6.csum": "icsum"}


class Layout:
    __slots__ = ("unpack", "check", "const", "i_len", "min_len", "v6", "i_ts", "i_addr",
                 "i_flow", "i_csum", "indev", "outdev", "pick", "template")


class Builder:
    """Walks one message, collecting the struct format, the checked values and the indexes."""

    def __init__(self) -> None:
        self.fmt = [">20x"]
        self.n = 0
        self.checks: list[tuple[int, object]] = []
        self.index: dict[str, int] = {}

    def field(self, code: str, name: str | None = None, const: object = None) -> int:
        self.fmt.append(code)
        i = self.n
        self.n += 1
        if name is not None:
            self.index[name] = i
        if const is not None:
            self.checks.append((i, const))
        return i

    def skip(self, n: int) -> None:
        if n:
            self.fmt.append(f"{n}x")


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
    unpack_attr = struct.Struct("=HH").unpack_from
    a = off + 20
    indev = outdev = 0
    lay = Layout()
    while a + 4 <= end:
        alen, atype = unpack_attr(data, a)
        step = (alen + 3) & ~3
        if alen < 4 or a + alen > end or atype & ~0x3FFF:
            return None
        b.field("4s", const=data[a : a + 4])
        v = a + 4
        if atype == packet.NFULA_PAYLOAD:
            if a + step != end or not _payload(b, lay, data, off, v, alen - 4):
                return None
            break
        if atype == packet.NFULA_PACKET_HDR and alen == 8:
            b.field("H", const=data[v] << 8 | data[v + 1])
            b.field("B", const=data[v + 2])
            b.skip(1)
        elif atype == packet.NFULA_PREFIX:
            b.field(f"{alen - 4}s", const=data[v : a + alen])
            b.skip(step - alen)
        elif atype in _CONST32 and alen == 8:
            value = struct.unpack_from(">I", data, v)[0]
            b.field("I", const=value)
            if atype == packet.NFULA_IFINDEX_INDEV:
                indev = value
            else:
                outdev = value
        elif atype in _VAR32 and alen == 8:
            b.field("I", _VAR32[atype])
        elif atype == packet.NFULA_TIMESTAMP and alen == 20:
            b.field("Q", "sec")
            b.field("Q", "usec_ts")
        elif atype == packet.NFULA_HWADDR and alen == 16:
            b.field("H", const=data[v] << 8 | data[v + 1])
            b.skip(10)
        elif atype in _CONST16 and alen == 6:
            b.field("H", const=data[v] << 8 | data[v + 1])
            b.skip(2)
        elif atype in _VAR32 or atype in _CONST32 or atype in _CONST16 or atype in (
                packet.NFULA_PACKET_HDR, packet.NFULA_TIMESTAMP, packet.NFULA_HWADDR):
            return None  # a length the reference path reads differently
        else:
            b.skip(step - 4)  # not read by ulogd's NFLOG input (hardware header, conntrack)
        a += step
    else:
        return None  # no payload
    idx = b.index
    lay.unpack = struct.Struct("".join(b.fmt)).unpack_from
    pos = [i for i, _ in b.checks]
    lay.check = itemgetter(*pos)
    lay.const = tuple(c for _, c in b.checks)
    lay.i_ts = (idx["sec"], idx["usec_ts"]) if "sec" in idx else None
    lay.indev, lay.outdev = indev, outdev
    computed = {name: b.n + k for k, name in enumerate(_COMPUTED)}
    parts = ['"timestamp": "%s.%06d%s"', dvc_part.replace("%", "%%")]
    pick = [computed["head"], computed["usec"], computed["tz"]]
    for k, value in fields:
        key = encode_basestring(k) + ": "
        src = _FROM.get(k)
        if src is not None:
            parts.append(key + "%s")
            pick.append(computed[src])
        elif k in idx:
            parts.append(key + "%s")
            pick.append(idx[k])
        else:
            text = encode_basestring(value) if isinstance(value, str) else str(value)
            parts.append(key + text.replace("%", "%%"))
    lay.template = "{" + ", ".join(parts) + "}\n"
    lay.pick = itemgetter(*pick)
    return lay


def _payload(b: Builder, lay: Layout, data: bytes, off: int, p: int, n: int) -> bool:
    """IPv4 or IPv6 (no extension headers) + TCP/UDP/ICMP(v6) fields; False if not covered."""
    family = data[off + 16]
    lay.i_flow = lay.i_csum = None
    if family == 2 and n >= 20:
        ihl = data[p] & 0x0F
        proto = data[p + 9]
        hl = ihl * 4
        if ihl < 5 or proto not in _L4_V4 or n < hl + _L4_V4[proto]:
            return False
        b.field("B", const=data[p])
        b.field("B", "ip.tos")
        lay.i_len = b.field("H", "ip.totlen")
        b.field("H", "ip.id")
        b.field("H", "ip.fragoff")
        b.field("B", "ip.ttl")
        b.field("B", const=proto)
        b.field("H", "ip.csum")
        lay.i_addr = (b.field("4s"), b.field("4s"))
        b.skip(hl - 20)
        lay.v6 = False
    elif family == 10 and n >= 40:
        proto = data[p + 6]
        hl = 40
        if proto not in _L4_V6 or n < hl + _L4_V6[proto]:
            return False
        lay.i_flow = b.field("I")
        lay.i_len = b.field("H", "ip6.payloadlen")
        b.field("B", const=proto)
        b.field("B", "ip6.hoplimit")
        lay.i_addr = (b.field("16s"), b.field("16s"))
        lay.v6 = True
    else:
        return False
    lay.min_len = n - 40 if lay.v6 else n  # the length field must cover what was copied
    q = p + hl
    if proto == 6:
        for name, code in (("src_port", "H"), ("dest_port", "H"), ("tcp.seq", "I"),
                           ("tcp.ackseq", "I")):
            b.field(code, name)
        b.field("B", const=data[q + 12])
        b.field("B", const=data[q + 13])
        for name in ("tcp.window", "tcp.csum", "tcp.urgp"):
            b.field("H", name)
    elif proto == 17:
        for name in ("src_port", "dest_port", "udp.len", "udp.csum"):
            b.field("H", name)
    else:  # ICMP (IPv4) or ICMPv6
        key = "icmpv6" if lay.v6 else "icmp"
        b.field("B", const=data[q])
        b.field("B", const=data[q + 1])
        lay.i_csum = (b.field("B"), b.field("B"))
        b.field("H", f"{key}.echoid")  # the line has only the keys this ICMP type has
        b.field("H", "icmp.fragmtu" if not lay.v6 and data[q] == 3 else f"{key}.echoseq")
    return True


_L4_V4 = {6: 20, 17: 8, 1: 8}  # L4 protocol → header bytes the fast path reads
_L4_V6 = {6: 20, 17: 8, 58: 8}


class FastUlogd:
    """Compiled layouts of one group's packets, by (message length, attributes up to the end
    of the prefix)."""

    def __init__(self, dvc_part: str, ifname: Callable[[int], str]) -> None:
        self._dvc_part = dvc_part
        self._ifname = ifname
        self._layouts: dict[tuple[int, bytes], list[Layout]] = {}
        self._tries: dict[tuple[int, bytes], int] = {}  # compilations attempted per key
        self._addrs: dict[bytes, str] = {}

    @staticmethod
    def key(data: bytes, off: int, length: int) -> tuple[int, bytes] | None:
        """Where the layouts of this message are filed; None for messages not laid out as the
        kernel does (packet header, then prefix)."""
        k = off + 28
        if length < 36 or data[off + 22] != packet.NFULA_PACKET_HDR or \
                data[k + 2] != packet.NFULA_PREFIX:
            return None
        end = k + (data[k] | data[k + 1] << 8)
        return (length, data[off + 16 : end]) if end <= off + length else None

    def learn(self, key: tuple[int, bytes], data: bytes, off: int, end: int,
              fields: packet.Fields) -> None:
        """Compile the layout of a message the reference path just rendered (at most PER_KEY
        attempts per key: messages the fast path does not cover are not tried again)."""
        tries = self._tries.get(key, 0)
        if tries >= PER_KEY:
            return
        if len(self._tries) >= LAYOUTS_MAX:
            self._layouts.clear()
            self._tries.clear()
        self._tries[key] = tries + 1
        lay = compile_layout(data, off, end, fields, self._dvc_part)
        if lay is not None:
            self._layouts.setdefault(key, []).append(lay)

    def line(self, key: tuple[int, bytes], data: bytes, off: int, stamp: Callable,
             fallback: tuple[int, int]) -> str | None:
        """The line of the message at ``off``, or None if no compiled layout matches it."""
        for lay in self._layouts.get(key, ()):
            v = lay.unpack(data, off)
            if lay.check(v) != lay.const or v[lay.i_len] < lay.min_len:
                continue
            if lay.i_ts is not None and v[lay.i_ts[0]]:
                sec, usec = v[lay.i_ts[0]] & 0xFFFFFFFF, v[lay.i_ts[1]] & 0xFFFFFFFF
            else:
                sec, usec = fallback
            head, tz = stamp(sec)
            addrs = self._addrs
            sa, da = v[lay.i_addr[0]], v[lay.i_addr[1]]
            src = addrs.get(sa) or self._ntop(sa)
            dst = addrs.get(da) or self._ntop(da)
            ifname = self._ifname
            pktlen = v[lay.i_len] + 40 if lay.v6 else v[lay.i_len]
            extra = [head, usec, tz, pktlen, src, dst,
                     encode_basestring(ifname(lay.indev)) if lay.indev else '""',
                     encode_basestring(ifname(lay.outdev)) if lay.outdev else '""', 0, 0, 0, sec]
            if lay.i_flow is not None:
                flow = v[lay.i_flow]
                extra[8], extra[9] = (flow & 0x0FF00000) >> 20, flow & 0x000FFFFF
            if lay.i_csum is not None:  # read in host (little-endian) byte order, as ulogd
                extra[10] = v[lay.i_csum[1]] << 8 | v[lay.i_csum[0]]
            return lay.template % lay.pick(v + tuple(extra))
        return None

    def _ntop(self, raw: bytes) -> str:
        if len(self._addrs) >= 65536:
            self._addrs.clear()
        text = self._addrs[raw] = '"' + socket.inet_ntop(
            socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw) + '"'
        return text
