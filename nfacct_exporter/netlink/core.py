"""What every netfilter subsystem shares on the wire: header and attribute structs, the encoder
for the declared messages, and name decoding.

Layouts from ``linux/netlink.h`` (``struct nlmsghdr``, ``struct nlattr``, ``struct nlmsgerr``)
and ``linux/netfilter/nfnetlink.h`` (``struct nfgenmsg``).
"""

import struct

from pyroute2.netlink.nfnetlink import nfgen_msg

from nfacct_exporter import naming

# linux/netlink.h
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_DUMP_INTR = 0x10
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER
# linux/netfilter/nfnetlink.h
NFNETLINK_V0 = 0

NLMSG = struct.Struct("=IHHII")  # nlmsg_len, nlmsg_type, nlmsg_flags, nlmsg_seq, nlmsg_pid
LEN_TYPE = struct.Struct("=IH")  # the first two fields of nlmsghdr: all a decoder looks at
ERRNO = struct.Struct("=i")  # nlmsgerr.error, after the header
ATTR = struct.Struct("=HH")  # nla_len, nla_type
BE64 = struct.Struct(">Q")
BE32 = struct.Struct(">I")
HEADER_LEN = 20  # nlmsghdr (16) + nfgenmsg (4): where a netfilter message's attributes start


def encode(msg: nfgen_msg, msg_type: int, flags: int, seq: int, res_id: int = 0) -> bytes:
    """Fill the netlink and nfgenmsg headers of a declared message and return the wire bytes."""
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
