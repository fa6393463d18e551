"""The NFACCT hot path: dump every object and decode the replies with ``struct``.

Decoding a 10,000-object dump through pyroute2's message classes takes ~800 ms here; this loop
does the same in a few ms. ``tests/unit/test_nfacct_decoder.py`` checks it against the declared
``messages.nfacct_msg`` on the same bytes.
"""

import struct
from typing import NamedTuple

from nfacct_exporter.netlink import messages
from nfacct_exporter.netlink.socket import NetfilterSocket

_HDR = struct.Struct("=IH")  # nlmsg_len, nlmsg_type
_ATTR = struct.Struct("=HH")
_BE64 = struct.Struct(">Q")
_BE32 = struct.Struct(">I")

NFACCT_NAME = 1
NFACCT_PKTS = 2
NFACCT_BYTES = 3
NFACCT_USE = 4
NFACCT_FLAGS = 5
NFACCT_QUOTA = 6

# The layout the kernel sends for an object without quota (nfnl_acct_fill_info): NAME, PKTS,
# BYTES, USE, no padding attributes (x86_64 needs none). The fast path reads it with two unpacks:
# the netlink header plus NAME's attribute header, then the three attributes after the name, read
# big-endian so the counters come out right; each attribute header (host order) is then compared,
# as one 32-bit number read that way, with what it must be. Anything else takes the generic loop.
_HEAD = struct.Struct("=IH14xHH")  # nlmsg_len, nlmsg_type, NAME len, NAME type
_TAIL = struct.Struct(">IQIQI4x")  # PKTS header, value, BYTES header, value, USE header
_TAIL_LEN = 32


def _as_read_by_tail(length: int, atype: int) -> int:
    return int.from_bytes(_ATTR.pack(length, atype), "big")


_PKTS_HDR = _as_read_by_tail(12, NFACCT_PKTS)
_BYTES_HDR = _as_read_by_tail(12, NFACCT_BYTES)
_USE_HDR = _as_read_by_tail(8, NFACCT_USE)


class NfacctObject(NamedTuple):
    """One NFACCT object as the kernel reported it."""

    name: str  # exact name; bytes that are not UTF-8 are kept as surrogate escapes
    packets: int
    bytes: int
    flags: int = 0  # NFACCT_F_QUOTA_PKTS / _BYTES / _OVERQUOTA
    quota: int | None = None


_names: dict[bytes, str] = {}


def _name(raw: bytes) -> str:
    """Decode a name once per distinct name (names repeat every poll)."""
    name = _names.get(raw)
    if name is None:
        if len(_names) > 1_000_000:
            _names.clear()
        name = _names[raw] = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    return name


def decode(data: bytes | memoryview, out: list[NfacctObject], start: int = 0) -> int:
    """Append the NFACCT objects of one reply datagram to ``out``, from offset ``start`` up to
    the first message that is not one (NLMSG_DONE…); return that message's offset, or the end.

    ~0.5 µs per object on the fast path (a 10k dump is then about as fast as ``nfacct list``);
    the generic loop is ~3× slower and only runs for quota objects or an unexpected layout.
    """
    data = bytes(data)  # slicing bytes is cheaper than slicing a memoryview
    off = start
    size = len(data)
    last = size - 24
    unpack_head = _HEAD.unpack_from
    unpack_tail = _TAIL.unpack_from
    known = _names.get
    new = tuple.__new__
    append = out.append
    acct_new, name_type = messages.ACCT_NEW, NFACCT_NAME
    pkts_hdr, bytes_hdr, use_hdr = _PKTS_HDR, _BYTES_HDR, _USE_HDR
    while off <= last:
        length, mtype, alen, atype = unpack_head(data, off)
        if mtype != acct_new:
            return off
        end = off + length
        tail = off + 20 + ((alen + 3) & ~3)
        if end - tail == _TAIL_LEN and atype == name_type and end <= size:
            ph, pkts, bh, nbytes, uh = unpack_tail(data, tail)
            if ph == pkts_hdr and bh == bytes_hdr and uh == use_hdr:
                raw = data[off + 24 : off + 20 + alen]
                name = known(raw) or _name(raw)
                append(new(NfacctObject, (name, pkts, nbytes, 0, None)))
                off = end  # 4-aligned: so is everything before the tail, and the tail
                continue
        if length < 16 or end > size:
            return size  # malformed or truncated: nothing more to trust in this datagram
        obj = _decode_generic(data, off, length)
        if obj is not None:
            append(obj)
        off += (length + 3) & ~3
    return off


def _decode_generic(data: bytes, off: int, length: int) -> NfacctObject | None:
    """One object, attribute by attribute in any order (quota objects, padding, new attributes)."""
    name = None
    pkts = nbytes = flags = 0
    quota = None
    a = off + 20
    end = off + length
    while a + 4 <= end:
        alen, atype = _ATTR.unpack_from(data, a)
        if alen < 4:
            break
        atype &= 0x3FFF
        if atype == NFACCT_NAME:
            name = _name(data[a + 4 : a + alen])
        elif atype == NFACCT_PKTS:
            pkts = _BE64.unpack_from(data, a + 4)[0]
        elif atype == NFACCT_BYTES:
            nbytes = _BE64.unpack_from(data, a + 4)[0]
        elif atype == NFACCT_FLAGS:
            flags = _BE32.unpack_from(data, a + 4)[0]
        elif atype == NFACCT_QUOTA:
            quota = _BE64.unpack_from(data, a + 4)[0]
        a += (alen + 3) & ~3
    return None if name is None else NfacctObject(name, pkts, nbytes, flags, quota)


def dump(sock: NetfilterSocket) -> list[NfacctObject]:
    """Read every NFACCT object of the socket's namespace (plain GET: counters are not reset)."""
    out: list[NfacctObject] = []
    sock.dump_into(messages.acct_dump_request(sock.next_seq()),
                   lambda data, off: decode(data, out, off))
    return out


def create(sock: NetfilterSocket, names: list[str]) -> list[int]:
    """Create objects; returns one errno per name (EBUSY: it already exists and was left as is)."""
    return sock.transact([messages.acct_new_request(n, sock.next_seq()) for n in names])


def delete(sock: NetfilterSocket, names: list[str]) -> list[int]:
    """Delete objects by name; returns one errno per name (EBUSY: a rule still uses it)."""
    return sock.transact([messages.acct_del_request(n, sock.next_seq()) for n in names])
