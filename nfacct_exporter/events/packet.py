"""One NFLOG packet message → ulogd2's keys for the stack NFLOG→BASE→IFINDEX→IP2STR, in order.

The keys, their values and their order are those ulogd 2.0.8's JSON output writes for that stack
(its input keys are every upstream output key in declaration order: NFLOG's, then BASE's, then
IFINDEX's, then IP2STR's), so a consumer of ulogd's JSON sees the same objects. Two deliberate
differences: ``raw.pktlen`` is the packet's IP length, not the copied length (we copy only the
headers; ulogd copies whole packets, so it reports the full length), and names are never stale
(ulogd keeps the previous packet's interface name for an index it does not know).
"""

import struct
from collections.abc import Callable, Iterator

from nfacct_exporter.events import base

ULOG_PACKET = (4 << 8) | 0  # NFNL_SUBSYS_ULOG, NFULNL_MSG_PACKET

NFULA_PACKET_HDR = 1
NFULA_MARK = 2
NFULA_TIMESTAMP = 3
NFULA_IFINDEX_INDEV = 4
NFULA_IFINDEX_OUTDEV = 5
NFULA_HWADDR = 8
NFULA_PAYLOAD = 9
NFULA_PREFIX = 10
NFULA_UID = 11
NFULA_SEQ = 12
NFULA_SEQ_GLOBAL = 13
NFULA_GID = 14
NFULA_HWTYPE = 15
NFULA_HWLEN = 17

_NLHDR = struct.Struct("=IH")
_ATTR = struct.Struct("=HH")
_BE16 = struct.Struct(">H")
_BE32 = struct.Struct(">I")
_TS = struct.Struct(">QQ")
_PKTHDR = struct.Struct(">HB")

Fields = list[tuple[str, int | str]]


class Packet:
    """The attributes of one NFULNL_MSG_PACKET that ulogd's NFLOG input reads (None: absent)."""

    __slots__ = ("family", "hw_protocol", "hook", "mark", "indev", "outdev", "time",
                 "hw_addrlen", "hwtype", "hwlen", "payload", "prefix", "uid", "gid", "seq",
                 "seq_global")

    def __init__(self, family: int) -> None:
        self.family = family
        self.hw_protocol: int | None = None
        self.hook: int | None = None
        self.mark = self.indev = self.outdev = self.hwtype = self.hwlen = 0
        self.time: tuple[int, int] | None = None  # kernel timestamp (sec, usec)
        self.hw_addrlen: int | None = None
        self.payload: bytes | None = None
        self.prefix: bytes | None = None  # raw, without the trailing NUL
        self.uid: int | None = None
        self.gid: int | None = None
        self.seq: int | None = None
        self.seq_global: int | None = None


def messages(data: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of every NFLOG packet message of one datagram (others and truncated ones
    skipped)."""
    off, total = 0, len(data)
    while off + 20 <= total:
        length, mtype = _NLHDR.unpack_from(data, off)
        end = off + length
        if length < 20 or end > total:
            return
        if mtype == ULOG_PACKET:
            yield off, end
        off += (length + 3) & ~3


def decode(data: bytes, a: int, end: int) -> Packet:
    """The message whose nfgenmsg header starts at ``a`` and that ends at ``end``."""
    p = Packet(data[a])
    a += 4
    unpack_attr = _ATTR.unpack_from
    be32 = _BE32.unpack_from
    be16 = _BE16.unpack_from
    while a + 4 <= end:
        alen, atype = unpack_attr(data, a)
        if alen < 4 or a + alen > end:
            break
        atype &= 0x3FFF
        v = a + 4
        if atype == NFULA_PAYLOAD:
            p.payload = data[v : a + alen]
        elif atype == NFULA_PREFIX:
            p.prefix = data[v : a + alen].split(b"\0", 1)[0]
        elif alen < 6:  # every attribute read below holds at least two bytes
            pass
        elif atype == NFULA_PACKET_HDR:
            if alen >= 7:
                p.hw_protocol, p.hook = _PKTHDR.unpack_from(data, v)
        elif atype == NFULA_HWTYPE:
            p.hwtype = be16(data, v)[0]
        elif atype == NFULA_HWLEN:
            p.hwlen = be16(data, v)[0]
        elif atype == NFULA_HWADDR:
            p.hw_addrlen = be16(data, v)[0]
        elif alen < 8:
            pass
        elif atype == NFULA_IFINDEX_INDEV:
            p.indev = be32(data, v)[0]
        elif atype == NFULA_SEQ:
            p.seq = be32(data, v)[0]
        elif atype == NFULA_TIMESTAMP:
            if alen >= 20:
                p.time = _TS.unpack_from(data, v)
        elif atype == NFULA_IFINDEX_OUTDEV:
            p.outdev = be32(data, v)[0]
        elif atype == NFULA_MARK:
            p.mark = be32(data, v)[0]
        elif atype == NFULA_UID:
            p.uid = be32(data, v)[0]
        elif atype == NFULA_GID:
            p.gid = be32(data, v)[0]
        elif atype == NFULA_SEQ_GLOBAL:
            p.seq_global = be32(data, v)[0]
        a += (alen + 3) & ~3
    return p


def text(raw: bytes) -> str:
    """Kernel bytes → valid UTF-8 text: each byte that is not UTF-8 becomes the text ``\\xNN``."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace")


def ulogd_fields(p: Packet, now: tuple[int, int], action: str | None,
                 ifname: Callable[[int], str]) -> Fields:
    """The keys ulogd's JSON output writes for ``p``, after ``timestamp`` and ``dvc``.

    ``now`` is used when the kernel sent no timestamp (as ulogd, which takes the time of day);
    ``action`` is ``allowed``/``blocked`` (boolean_label of the group's numeric_label) or None;
    ``ifname`` maps an interface index to its name in the group's namespace ("" if unknown).
    """
    payload = p.payload
    length = base.packet_length(p.family, p.hw_protocol, payload)
    out: Fields = []
    add = out.append
    if payload is not None:
        add(("raw.pktlen", length))
    add(("raw.pktcount", 1))
    if p.prefix is not None:
        add(("oob.prefix", text(p.prefix)))
    sec, usec = p.time if p.time is not None and p.time[0] else now
    add(("oob.time.sec", sec & 0xFFFFFFFF))
    add(("oob.time.usec", usec & 0xFFFFFFFF))
    add(("oob.mark", p.mark))
    if p.indev:
        add(("oob.ifindex_in", p.indev))
    if p.outdev:
        add(("oob.ifindex_out", p.outdev))
    if p.hook is not None:
        add(("oob.hook", p.hook))
    if p.hwlen:
        add(("raw.mac_len", p.hwlen))
    if p.seq is not None:
        add(("oob.seq.local", p.seq))
    if p.seq_global is not None:
        add(("oob.seq.global", p.seq_global))
    add(("oob.family", p.family))
    # BASE re-exports oob.protocol (0 when the packet header was absent); JSON writes it here
    add(("oob.protocol", p.hw_protocol or 0))
    if p.uid is not None:
        add(("oob.uid", p.uid))
    if p.gid is not None:
        add(("oob.gid", p.gid))
    if action is not None:
        add(("action", action))
    if p.hwlen:
        add(("raw.type", p.hwtype))
    if p.hw_addrlen is not None:
        add(("raw.mac.addrlen", p.hw_addrlen))
    addrs = base.fields(out, p.family, p.hw_protocol or 0, payload or b"", length)
    add(("oob.in", ifname(p.indev) if p.indev else ""))
    add(("oob.out", ifname(p.outdev) if p.outdev else ""))
    out.extend(addrs)
    return out
