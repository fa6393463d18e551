"""What every netfilter subsystem shares on the wire: header and attribute structs, the encoder
for the declared messages, and name decoding.

Layouts from ``linux/netlink.h`` (``struct nlmsghdr``, ``struct nlattr``, ``struct nlmsgerr``)
and ``linux/netfilter/nfnetlink.h`` (``struct nfgenmsg``).
"""

import struct
from typing import Any

from nfacct_exporter import naming

# linux/netlink.h
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_DUMP_INTR = 0x10
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER
# linux/netfilter/nfnetlink.h
NFNETLINK_V0 = 0
NFNL_SUBSYS_ULOG = 4
NFNL_SUBSYS_ACCT = 7
NFNL_SUBSYS_NFTABLES = 10

NLMSG = struct.Struct("=IHHII")  # nlmsg_len, nlmsg_type, nlmsg_flags, nlmsg_seq, nlmsg_pid
LEN_TYPE = struct.Struct("=IH")  # the first two fields of nlmsghdr: all a decoder looks at
ERRNO = struct.Struct("=i")  # nlmsgerr.error, after the header
ATTR = struct.Struct("=HH")  # nla_len, nla_type
BE64 = struct.Struct(">Q")
BE32 = struct.Struct(">I")
NFGEN = struct.Struct("!BBH")  # nfgen_family, version, res_id (network order)
HEADER_LEN = 20  # nlmsghdr (16) + nfgenmsg (4): where a netfilter message's attributes start


def attr(atype: int, payload: bytes) -> bytes:
    """One attribute on the wire: header, payload, zero padding to 4 bytes."""
    length = 4 + len(payload)
    return ATTR.pack(length, atype) + payload + bytes(-length & 3)


def request(msg_type: int, flags: int, seq: int, attrs: bytes = b"", family: int = 0,
            res_id: int = 0) -> bytes:
    """A netfilter request: netlink header, nfgenmsg, then ``attrs`` (built with ``attr``).

    Built with ``struct`` so the daemon never imports pyroute2 (~20 MiB of RSS); the tests check
    each request against ``encode`` of the subsystem's pyroute2 declaration.
    """
    body = NFGEN.pack(family, NFNETLINK_V0, res_id) + attrs
    return NLMSG.pack(16 + len(body), msg_type, flags, seq, 0) + body


def encode(msg: Any, msg_type: int, flags: int, seq: int, res_id: int = 0) -> bytes:
    """Fill the netlink and nfgenmsg headers of a declared (pyroute2) message and return the wire
    bytes: the reference ``request`` is checked against, and the tests' message builder."""
    msg["header"]["type"] = msg_type
    msg["header"]["flags"] = flags
    msg["header"]["sequence_number"] = seq  # pyroute2's name; "seq" would be silently ignored
    msg["header"]["pid"] = 0
    msg["nfgen_family"] = msg.get("nfgen_family") or 0
    msg["version"] = NFNETLINK_V0
    msg["res_id"] = res_id
    msg.encode()
    return bytes(msg.data)


def text(raw: bytes) -> str:
    """A NUL-terminated string attribute → text; bytes that are not UTF-8 are kept as
    surrogate escapes, so every distinct name stays distinct."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


# raw name → text, shared by the decoders of the poller thread (names repeat every poll)
names: dict[bytes, str] = {}


def name(raw: bytes) -> str:
    """``text(raw)``, decoded once per distinct name; the same name is the same ``str``."""
    found = names.get(raw)
    if found is None:
        if len(names) > naming.CACHE_MAX:
            names.clear()
        found = names[raw] = text(raw)
    return found
