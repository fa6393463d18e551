"""NFACCT (``linux/netfilter/nfnetlink_acct.h``): constants, the declared message, requests, and
the hot path that decodes a dump with ``struct``.

pyroute2 0.9 ships no NFACCT class, so ``nfacct_msg`` is declared here from the uapi header, and
built on first use: the tests check the requests (made with ``struct``) and the fast decoder
against it (``tests/unit/test_nfacct_decoder.py``, same bytes); the daemon never imports pyroute2.
pyroute2's classes take ~800 ms for a 10,000-object dump, this decoder a few ms
(``nfacct_dumper`` decodes only what changed since the last poll).
"""

import struct
from collections.abc import Iterator
from typing import Any

from nfacct_exporter.netlink import core
from nfacct_exporter.netlink.socket import NetfilterSocket
from nfacct_exporter.records import NfacctObject

NFNLGRP_ACCT_QUOTA = 8  # linux/netfilter/nfnetlink.h: the over-quota announcements
# enum nfnl_acct_msg_types
NFNL_MSG_ACCT_NEW = 0
NFNL_MSG_ACCT_GET = 1
NFNL_MSG_ACCT_OVERQUOTA = 4
ACCT_NEW = (core.NFNL_SUBSYS_ACCT << 8) | NFNL_MSG_ACCT_NEW
ACCT_GET = (core.NFNL_SUBSYS_ACCT << 8) | NFNL_MSG_ACCT_GET
ACCT_OVERQUOTA = (core.NFNL_SUBSYS_ACCT << 8) | NFNL_MSG_ACCT_OVERQUOTA
# enum nfnl_acct_flags
NFACCT_F_QUOTA_PKTS = 1 << 0
NFACCT_F_QUOTA_BYTES = 1 << 1
NFACCT_F_OVERQUOTA = 1 << 2
# enum nfnl_acct_type
NFACCT_NAME, NFACCT_PKTS, NFACCT_BYTES, NFACCT_USE, NFACCT_FLAGS, NFACCT_QUOTA = 1, 2, 3, 4, 5, 6


def _declare() -> type:
    from pyroute2.netlink import nla
    from pyroute2.netlink.nfnetlink import nfgen_msg

    class nfacct_msg(nfgen_msg):
        """One NFACCT object (reply to GET, body of NEW)."""

        prefix = "NFACCT_"
        nla_map = (
            ("NFACCT_UNSPEC", "none"),
            ("NFACCT_NAME", "asciiz"),
            ("NFACCT_PKTS", "be64"),
            ("NFACCT_BYTES", "be64"),
            ("NFACCT_USE", "be32"),
            ("NFACCT_FLAGS", "be32"),
            ("NFACCT_QUOTA", "be64"),
            ("NFACCT_FILTER", "nfacct_filter"),
            ("NFACCT_PAD", "hex"),
        )

        class nfacct_filter(nla):
            nla_map = (
                ("NFACCT_FILTER_UNSPEC", "none"),
                ("NFACCT_FILTER_MASK", "be32"),
                ("NFACCT_FILTER_VALUE", "be32"),
            )

    return nfacct_msg


def __getattr__(name: str) -> Any:
    """``nfacct_msg``, the pyroute2 declaration, made (and pyroute2 imported) on first use."""
    if name == "nfacct_msg":
        globals()[name] = declared = _declare()
        return declared
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def acct_dump_request(seq: int) -> bytes:
    """A plain GET dump of every NFACCT object: reads, never resets (not GET_CTRZERO)."""
    return core.request(ACCT_GET, core.NLM_F_REQUEST | core.NLM_F_DUMP, seq)


def acct_new_request(
    name: str | bytes, seq: int, quota: int | None = None, quota_bytes: bool = False
) -> bytes:
    """Create one NFACCT object; NLM_F_EXCL makes an existing name fail with EBUSY, not reset.
    ``name`` as text (non-UTF-8 bytes as surrogate escapes) or as the raw bytes."""
    raw = name if isinstance(name, bytes) else name.encode("utf-8", "surrogateescape")
    attrs = core.attr(NFACCT_NAME, raw + b"\0")
    if quota is not None:
        flag = NFACCT_F_QUOTA_BYTES if quota_bytes else NFACCT_F_QUOTA_PKTS
        attrs += (core.attr(NFACCT_FLAGS, core.BE32.pack(flag))
                  + core.attr(NFACCT_QUOTA, core.BE64.pack(quota)))
    flags = core.NLM_F_REQUEST | core.NLM_F_ACK | core.NLM_F_CREATE | core.NLM_F_EXCL
    return core.request(ACCT_NEW, flags, seq, attrs)


# The layout the kernel sends for an object without quota (nfnl_acct_fill_info): NAME, PKTS,
# BYTES, USE, no padding attributes (x86_64 needs none). The fast path reads a message with one
# unpack compiled for its name length (one per NAME length the kernel can send, NFACCT_NAME_MAX
# 32): all read big-endian so the counters come out right, each header compared, read that way,
# with what it must be. Anything else takes the generic loop, which decodes the same bytes the
# same way. USE is the kernel's reference count: the object's own plus one per rule (1, 2, 3
# measured here with 0, 1, 2 rules), so ``rules`` is USE - 1.
_HEAD = struct.Struct("=IH14xHH")  # nlmsg_len, nlmsg_type, NAME len, NAME type
_TAIL = struct.Struct(">IQIQII")  # PKTS header, value, BYTES header, value, USE header, value
_TAIL_LEN = 32


def _as_read_by_tail(length: int, atype: int) -> int:
    return int.from_bytes(core.ATTR.pack(length, atype), "big")


_PKTS_HDR = _as_read_by_tail(12, NFACCT_PKTS)
_BYTES_HDR = _as_read_by_tail(12, NFACCT_BYTES)
_USE_HDR = _as_read_by_tail(8, NFACCT_USE)
_TYPE_BE = int.from_bytes(struct.pack("=H", ACCT_NEW), "big")
_NAME_TYPE_BE = int.from_bytes(struct.pack("=H", NFACCT_NAME), "big")


def _message(alen: int) -> tuple[Any, int, int]:
    """(unpack of a whole message whose NAME attribute is ``alen`` long, its length, that
    length as the unpack reads it)."""
    padded = (alen + 3) & ~3
    length = 20 + padded + _TAIL_LEN
    unpack = struct.Struct(f">IH14xBBH{alen - 4}s{padded - alen}xIQIQII").unpack_from
    return unpack, length, int.from_bytes(struct.pack("=I", length), "big")


_MESSAGES: list[tuple[Any, int, int] | None] = [
    _message(a) if 4 < a <= 37 else None for a in range(256)]  # by NAME length's low byte


def decode(data: bytes | memoryview, out: list[NfacctObject], start: int = 0) -> int:
    """Append the NFACCT objects of one reply datagram to ``out``, from offset ``start`` up to
    the first message that is not one (NLMSG_DONE…); return that message's offset, or the end.
    A malformed message is skipped (``Dumper`` counts them)."""
    return _decode(bytes(data), out, start)[0]


def _decode(data: bytes, out: list[NfacctObject], start: int) -> tuple[int, int]:
    """``decode`` → (offset, malformed messages skipped).

    ~0.45 µs per object on the fast path (a 10k dump is then faster than ``nfacct list``); the
    generic loop is ~3× slower and only runs for quota objects or an unexpected layout.
    A message whose length runs past the datagram ends it: nothing after it can be trusted.
    """
    off = start
    size = len(data)
    last = size - 24
    bad = 0
    messages = _MESSAGES
    known = core.names.get
    new = tuple.__new__
    append = out.append
    acct_new, type_be, name_be = ACCT_NEW, _TYPE_BE, _NAME_TYPE_BE
    pkts_hdr, bytes_hdr, use_hdr = _PKTS_HDR, _BYTES_HDR, _USE_HDR
    while off <= last:
        fast = messages[data[off + 20]]  # the NAME attribute's length, low byte
        if fast is not None and off + fast[1] <= size:
            length, mtype, _, high, atype, raw, ph, pkts, bh, nbytes, uh, use = fast[0](data, off)
            if (length == fast[2] and mtype == type_be and not high and atype == name_be
                    and ph == pkts_hdr and bh == bytes_hdr and uh == use_hdr):
                append(new(NfacctObject, (known(raw) or core.name(raw), pkts, nbytes, 0, None,
                                          None, False, use - 1 if use else 0)))
                off += fast[1]  # 4-aligned
                continue
        length, mtype = core.LEN_TYPE.unpack_from(data, off)
        if mtype != acct_new:
            return off, bad
        if length < 16 or off + length > size:
            return size, bad + 1
        obj = decode_one(data, off, length)
        if obj is None:
            bad += 1
        else:
            append(obj)
        off += (length + 3) & ~3
    if size - off >= 16:  # a message too short to hold what it must
        length, mtype = core.LEN_TYPE.unpack_from(data, off)
        if mtype == acct_new:
            return size, bad + 1
    return off, bad


def decode_one(data: bytes, off: int, length: int) -> NfacctObject | None:
    """The object of the message at ``off``, attribute by attribute in any order (quota objects,
    padding, new attributes); None when malformed: no name, or an attribute that runs past the
    message or is too short for its value."""
    name = None
    pkts = nbytes = flags = use = 0
    quota = None
    a = off + core.HEADER_LEN
    end = off + length
    while a + 4 <= end:
        alen, atype = core.ATTR.unpack_from(data, a)
        if alen < 4 or a + alen > end:
            return None
        atype &= core.NLA_TYPE_MASK
        if atype == NFACCT_NAME:
            name = core.name(data[a + 4 : a + alen])
        elif atype in _BE64:
            if alen < 12:
                return None
            value = core.BE64.unpack_from(data, a + 4)[0]
            if atype == NFACCT_PKTS:
                pkts = value
            elif atype == NFACCT_BYTES:
                nbytes = value
            else:
                quota = value
        elif atype in _BE32:
            if alen < 8:
                return None
            if atype == NFACCT_USE:
                use = core.BE32.unpack_from(data, a + 4)[0]
            else:
                flags = core.BE32.unpack_from(data, a + 4)[0]
        a += (alen + 3) & ~3
    if name is None:
        return None
    unit = ("packets" if flags & NFACCT_F_QUOTA_PKTS else
            "bytes" if flags & NFACCT_F_QUOTA_BYTES else None)
    return NfacctObject(name, pkts, nbytes, flags, quota, unit if quota is not None else None,
                        bool(flags & NFACCT_F_OVERQUOTA), use - 1 if use else 0)


_BE64 = frozenset((NFACCT_PKTS, NFACCT_BYTES, NFACCT_QUOTA))
_BE32 = frozenset((NFACCT_USE, NFACCT_FLAGS))


def announced(data: bytes) -> Iterator[str]:
    """Names of the objects in one datagram of the over-quota group, as ``decode`` names them.

    Only the kernel writes to that group; kernel 6.18 tags announcements ACCT_NEW, not
    ACCT_OVERQUOTA (as measured here), so both are taken.
    """
    off = 0
    while off + 16 <= len(data):
        length, mtype = core.LEN_TYPE.unpack_from(data, off)
        if length < 16:
            return
        if mtype in (ACCT_OVERQUOTA, ACCT_NEW):
            obj = decode_one(data, off, min(length, len(data) - off))
            if obj is not None:
                yield obj.name
        off += (length + 3) & ~3


def dump(sock: NetfilterSocket) -> list[NfacctObject]:
    """Read every NFACCT object of the socket's namespace (plain GET: counters are not reset).
    The daemon's sources use ``nfacct_dumper.Dumper``, which decodes only what changed."""
    out: list[NfacctObject] = []
    sock.dump_into(acct_dump_request(sock.dump_seq()), lambda data, off: decode(data, out, off))
    return out


def create(sock: NetfilterSocket, names: list[str]) -> list[int]:
    """Create objects; returns one errno per name (EBUSY: it already exists and was left as is)."""
    return sock.transact([acct_new_request(n, sock.next_seq()) for n in names])
