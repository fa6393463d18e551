"""Netlink bytes for fuzzing the decoders: valid datagrams built from the declared pyroute2
messages, and garbage shaped like netlink (``tests/support/decoding.py`` has the checks).

Builders draw from a ``Choices`` (hypothesis' ``data`` in the suite, atheris' data provider in
``bench/fuzz.py``), so both fuzzers explore the same shapes.
"""

import os
import struct
from typing import Protocol

from pyroute2.netlink import NLM_F_MULTI

from nfacct_exporter.netlink import conntrack, core, nfacct, nflog, nft
from tests.support import nflog_ref


def examples(n: int) -> int:
    """``n`` property examples, times ``FUZZ_SCALE`` (default 1) for a longer hunt."""
    return n * int(os.environ.get("FUZZ_SCALE", "1"))


DONE = struct.pack("=IHHII", 20, core.NLMSG_DONE, NLM_F_MULTI, 0, 0) + bytes(4)
TYPES = (nfacct.ACCT_NEW, nfacct.ACCT_OVERQUOTA, nft.NFT_NEWOBJ, nflog.ULOG_PACKET,
         conntrack.CT_GET_STATS_CPU,
         core.NLMSG_ERROR, core.NLMSG_DONE, 1, 0xFFFF)


class Choices(Protocol):
    def int(self, lo: int, hi: int) -> int: ...
    def bytes(self, lo: int, hi: int) -> bytes: ...


def _cstr(c: Choices, hi: int) -> bytes:
    return c.bytes(0, hi).replace(b"\0", b"x")


def _align(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


# --- valid datagrams, built by the declarations ----------------------------------------------

def nfacct_datagram(c: Choices) -> bytes:
    """NFACCT objects as a dump reply: the kernel's layout, or attributes in any order."""
    out = []
    for _ in range(c.int(0, 6)):
        attrs = [("NFACCT_NAME", _cstr(c, 31) or b"n"), ("NFACCT_PKTS", c.int(0, 2**64 - 1)),
                 ("NFACCT_BYTES", c.int(0, 2**64 - 1)), ("NFACCT_USE", c.int(0, 2**32 - 1))]
        if c.int(0, 1):
            attrs += [("NFACCT_FLAGS", c.int(0, 7)), ("NFACCT_QUOTA", c.int(0, 2**64 - 1))]
        for i in range(len(attrs) - 1, 0, -1) if c.int(0, 1) else ():
            j = c.int(0, i)
            attrs[i], attrs[j] = attrs[j], attrs[i]
        msg = nfacct.nfacct_msg()
        msg["attrs"] = attrs
        out.append(core.encode(msg, nfacct.ACCT_NEW, NLM_F_MULTI, 1))
    return b"".join(map(_align, out)) + (DONE if c.int(0, 1) else b"")


def nft_datagram(c: Choices) -> bytes:
    """Named objects as a GETOBJ dump reply: counters and other types, optional attributes."""
    out = []
    for _ in range(c.int(0, 5)):
        msg = nft.nft_obj_msg()
        msg["nfgen_family"] = c.int(0, 12)
        data = [(k, c.int(0, 2**64 - 1)) for k in ("NFTA_COUNTER_BYTES", "NFTA_COUNTER_PACKETS")
                if c.int(0, 3)]
        attrs = [("NFTA_OBJ_TABLE", _cstr(c, 40)), ("NFTA_OBJ_NAME", _cstr(c, 40)),
                 ("NFTA_OBJ_TYPE", 1 if c.int(0, 3) else c.int(0, 2**32 - 1)),
                 ("NFTA_OBJ_DATA", {"attrs": data}), ("NFTA_OBJ_USE", c.int(0, 9)),
                 ("NFTA_OBJ_HANDLE", c.int(0, 2**64 - 1))]
        msg["attrs"] = [a for a in attrs if c.int(0, 4)]
        out.append(core.encode(msg, nft.NFT_NEWOBJ, NLM_F_MULTI, 1))
    return b"".join(map(_align, out)) + (DONE if c.int(0, 1) else b"")


def nflog_datagrams(c: Choices) -> list[bytes]:
    """NFLOG packet datagrams as the kernel lays them out (prefix, seq, payload last)."""
    seq = c.int(0, 2**32 - 1)
    out = []
    for _ in range(c.int(1, 3)):
        pkts = []
        for _ in range(c.int(0, 5)):
            kind = c.int(0, 3)
            payload = (nflog_ref.ipv4(c.int(0, 65535)) if kind == 0 else
                       nflog_ref.ipv6(c.int(0, 65535)) if kind == 1 else
                       c.bytes(0, 12) if kind == 2 else None)
            prefix = _cstr(c, 63) if c.int(0, 4) else None
            pkts.append(nflog_ref.packet(c.int(0, 65535), seq if c.int(0, 5) else None,
                                         prefix, payload))
            seq = (seq + c.int(1, 3)) % 2**32
        out.append(nflog_ref.datagram(*pkts))
    return out


def conntrack_datagram(c: Choices) -> bytes:
    """Per-CPU conntrack statistics as a dump reply: any CPUs, any subset of the attributes."""
    cls = conntrack.ct_stats_cpu_msg
    out = []
    for _ in range(c.int(0, 4)):
        msg = cls()
        names = [n for n, _ in cls.nla_map[1:] if c.int(0, 2)]
        msg["attrs"] = [(n, c.int(0, 2**32 - 1)) for n in names]
        out.append(core.encode(msg, conntrack.CT_GET_STATS_CPU, NLM_F_MULTI, 1,
                               res_id=c.int(0, 65535)))
    return b"".join(map(_align, out)) + (DONE if c.int(0, 1) else b"")


# --- garbage -------------------------------------------------------------------------------

def _attrs(c: Choices, depth: int) -> bytes:
    out = b""
    for _ in range(c.int(0, 4)):
        atype = c.int(0, 24) | (0x8000 if c.int(0, 3) == 0 else 0)
        if depth and c.int(0, 2) == 0:
            body = _attrs(c, depth - 1)
            atype |= 0x8000
        else:
            body = c.bytes(0, 40)
        length = 4 + len(body)
        if c.int(0, 5) == 0:  # a lie: zero, below the header, past the end, huge
            length = (0, 1, 3, 4, length + 4, length + 200, 0xFFFF)[c.int(0, 6)]
        out += struct.pack("=HH", length, atype) + body + bytes(-len(body) % 4)
    return out


def garbage(c: Choices) -> bytes:
    """A datagram of netlink-shaped messages with random types, nested attributes and lengths
    that may lie; or a valid datagram mutated; or plain random bytes."""
    kind = c.int(0, 3)
    if kind == 0:
        return c.bytes(0, 300)
    if kind == 1:
        data = bytearray((nfacct_datagram, nft_datagram, conntrack_datagram)[c.int(0, 2)](c)
                         or b"".join(nflog_datagrams(c)))
        for _ in range(c.int(1, 4)):
            if not data:
                break
            at = c.int(0, len(data) - 1)
            what = c.int(0, 2)
            if what == 0:
                del data[at:]
            elif what == 1:
                data[at : at + 2] = c.int(0, 0xFFFF).to_bytes(2, "little")
            else:
                data[at] = c.int(0, 255)
        return bytes(data)
    out = b""
    for _ in range(c.int(1, 8)):
        body = bytes([c.int(0, 12), 0, 0, 0]) + _attrs(c, 2)
        length = 16 + len(body)
        if c.int(0, 4) == 0:
            length = (0, 4, 15, 16, 19, length + 8, 2**32 - 1)[c.int(0, 6)]
        out += struct.pack("=IHHII", length, TYPES[c.int(0, len(TYPES) - 1)],
                           c.int(0, 0xFFFF), 1 if c.int(0, 3) else c.int(0, 9), 0) + body
    return out[: c.int(0, len(out))] if c.int(0, 3) == 0 else out
