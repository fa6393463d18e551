"""NFACCT and NFLOG messages declared as pyroute2 ``nla_map`` tables.

pyroute2 0.9 ships no NFACCT/NFLOG classes, so they are declared here from the kernel uapi headers
(``linux/netfilter/nfnetlink_acct.h``, ``nfnetlink_log.h``). These declarations build the control
messages (dump requests, object creation, NFLOG config) and serve as the reference decoder that
the fast ``struct`` decoders are cross-checked against in the tests.
"""

from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, nla
from pyroute2.netlink.nfnetlink import (
    NFNL_SUBSYS_ACCT,
    NFNL_SUBSYS_NFTABLES,
    NFNL_SUBSYS_ULOG,
    nfgen_msg,
)

NFNETLINK_V0 = 0

# nfnetlink_acct.h: enum nfnl_acct_msg_types
NFNL_MSG_ACCT_NEW = 0
NFNL_MSG_ACCT_GET = 1
NFNL_MSG_ACCT_GET_CTRZERO = 2  # read-and-reset: never used by this exporter
NFNL_MSG_ACCT_DEL = 3
NFNL_MSG_ACCT_OVERQUOTA = 4

ACCT_NEW = (NFNL_SUBSYS_ACCT << 8) | NFNL_MSG_ACCT_NEW
ACCT_GET = (NFNL_SUBSYS_ACCT << 8) | NFNL_MSG_ACCT_GET
ACCT_DEL = (NFNL_SUBSYS_ACCT << 8) | NFNL_MSG_ACCT_DEL
ACCT_OVERQUOTA = (NFNL_SUBSYS_ACCT << 8) | NFNL_MSG_ACCT_OVERQUOTA

# nfnetlink_acct.h: enum nfnl_acct_flags
NFACCT_F_QUOTA_PKTS = 1 << 0
NFACCT_F_QUOTA_BYTES = 1 << 1
NFACCT_F_OVERQUOTA = 1 << 2

NFACCT_NAME_MAX = 32  # including the terminating NUL


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


# nfnetlink_log.h
NFULNL_MSG_PACKET = 0
NFULNL_MSG_CONFIG = 1
ULOG_PACKET = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET
ULOG_CONFIG = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG

NFULNL_CFG_CMD_BIND = 1
NFULNL_CFG_CMD_UNBIND = 2
NFULNL_COPY_NONE = 0
NFULNL_COPY_META = 1
NFULNL_COPY_PACKET = 2
NFULNL_CFG_F_SEQ = 0x0001
NFULNL_CFG_F_SEQ_GLOBAL = 0x0002


class nflog_config_msg(nfgen_msg):
    """NFULNL_MSG_CONFIG: bind a group and set copy mode, batching and flags."""

    prefix = "NFULA_CFG_"
    nla_map = (
        ("NFULA_CFG_UNSPEC", "none"),
        ("NFULA_CFG_CMD", "uint8"),
        ("NFULA_CFG_MODE", "cfg_mode"),
        ("NFULA_CFG_NLBUFSIZ", "be32"),
        ("NFULA_CFG_TIMEOUT", "be32"),
        ("NFULA_CFG_QTHRESH", "be32"),
        ("NFULA_CFG_FLAGS", "be16"),
    )

    class cfg_mode(nla):
        fields = (("copy_range", ">I"), ("copy_mode", "B"), ("_pad", "B"))


class nflog_packet_msg(nfgen_msg):
    """NFULNL_MSG_PACKET: one logged packet (what this exporter reads, and the rest)."""

    prefix = "NFULA_"
    nla_map = (
        ("NFULA_UNSPEC", "none"),
        ("NFULA_PACKET_HDR", "packet_hdr"),
        ("NFULA_MARK", "be32"),
        ("NFULA_TIMESTAMP", "hex"),
        ("NFULA_IFINDEX_INDEV", "be32"),
        ("NFULA_IFINDEX_OUTDEV", "be32"),
        ("NFULA_IFINDEX_PHYSINDEV", "be32"),
        ("NFULA_IFINDEX_PHYSOUTDEV", "be32"),
        ("NFULA_HWADDR", "hex"),
        ("NFULA_PAYLOAD", "hex"),
        ("NFULA_PREFIX", "asciiz"),
        ("NFULA_UID", "be32"),
        ("NFULA_SEQ", "be32"),
        ("NFULA_SEQ_GLOBAL", "be32"),
        ("NFULA_GID", "be32"),
        ("NFULA_HWTYPE", "be16"),
        ("NFULA_HWHEADER", "hex"),
        ("NFULA_HWLEN", "be16"),
        ("NFULA_CT", "hex"),
        ("NFULA_CT_INFO", "be32"),
        ("NFULA_VLAN", "hex"),
        ("NFULA_L2HDR", "hex"),
    )

    class packet_hdr(nla):
        fields = (("hw_protocol", ">H"), ("hook", "B"), ("_pad", "B"))


def encode(msg: nfgen_msg, msg_type: int, flags: int, seq: int, res_id: int = 0) -> bytes:
    """Fill the netlink and nfgenmsg headers and return the wire bytes."""
    msg["header"]["type"] = msg_type
    msg["header"]["flags"] = flags
    msg["header"]["sequence_number"] = seq  # pyroute2's name; "seq" would be silently ignored
    msg["header"]["pid"] = 0
    msg["nfgen_family"] = msg.get("nfgen_family") or 0
    msg["version"] = NFNETLINK_V0
    msg["res_id"] = res_id
    msg.encode()
    return bytes(msg.data)


def acct_dump_request(seq: int) -> bytes:
    """A plain GET dump of every NFACCT object: reads, never resets (not GET_CTRZERO)."""
    return encode(nfacct_msg(), ACCT_GET, NLM_F_REQUEST | NLM_F_DUMP, seq)


def acct_new_request(
    name: str, seq: int, quota: int | None = None, quota_bytes: bool = False
) -> bytes:
    """Create one NFACCT object; NLM_F_EXCL makes an existing name fail with EBUSY, not reset."""
    msg = nfacct_msg()
    attrs = [("NFACCT_NAME", name)]
    if quota is not None:
        flag = NFACCT_F_QUOTA_BYTES if quota_bytes else NFACCT_F_QUOTA_PKTS
        attrs += [("NFACCT_FLAGS", flag), ("NFACCT_QUOTA", quota)]
    msg["attrs"] = attrs
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    return encode(msg, ACCT_NEW, flags, seq)


def acct_del_request(name: str, seq: int) -> bytes:
    """Delete one NFACCT object (tests and benchmarks clean up with it)."""
    msg = nfacct_msg()
    msg["attrs"] = [("NFACCT_NAME", name)]
    return encode(msg, ACCT_DEL, NLM_F_REQUEST | NLM_F_ACK, seq)


# nf_tables.h: named objects (``nft add counter inet filter http``)
NFT_MSG_GETOBJ = 19
NFT_GETOBJ = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETOBJ
NFT_MSG_NEWOBJ = 18
NFT_NEWOBJ = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWOBJ
NFT_OBJECT_COUNTER = 1
# nfgen_family of a table → the family word nft prints
NFPROTO_NAMES = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}


class nft_obj_msg(nfgen_msg):
    """NFT_MSG_NEWOBJ / GETOBJ: one named stateful object (counter, quota, ...)."""

    prefix = "NFTA_OBJ_"
    nla_map = (
        ("NFTA_OBJ_UNSPEC", "none"),
        ("NFTA_OBJ_TABLE", "asciiz"),
        ("NFTA_OBJ_NAME", "asciiz"),
        ("NFTA_OBJ_TYPE", "be32"),
        ("NFTA_OBJ_DATA", "counter_data"),
        ("NFTA_OBJ_USE", "be32"),
        ("NFTA_OBJ_HANDLE", "be64"),
        ("NFTA_OBJ_PAD", "hex"),
        ("NFTA_OBJ_USERDATA", "hex"),
    )

    class counter_data(nla):
        nla_map = (
            ("NFTA_COUNTER_UNSPEC", "none"),
            ("NFTA_COUNTER_BYTES", "be64"),
            ("NFTA_COUNTER_PACKETS", "be64"),
            ("NFTA_COUNTER_PAD", "hex"),
        )


def nft_counters_dump_request(seq: int) -> bytes:
    """Dump named counters of every table and family (GETOBJ, not GETOBJ_RESET)."""
    msg = nft_obj_msg()
    msg["attrs"] = [("NFTA_OBJ_TYPE", NFT_OBJECT_COUNTER)]
    return encode(msg, NFT_GETOBJ, NLM_F_REQUEST | NLM_F_DUMP, seq)
