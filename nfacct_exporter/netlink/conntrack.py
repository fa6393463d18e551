"""Conntrack statistics over ctnetlink: entry count, table limit, per-CPU statistics.

Constants from ``include/uapi/linux/netfilter/nfnetlink_conntrack.h`` (message types, enums
``ctattr_stats_cpu``, ``ctattr_stats_global``, ``ctattr_expect_stats``). Three requests a poll,
the same ones ``conntrack -S``, ``conntrack -C`` and ``conntrack -S expect`` send: two per-CPU
dumps (one message per CPU, the CPU number in the nfgenmsg ``res_id``) and one global request
answered by a single message, followed by the ACK asked for (which ends it like a dump).
The requests are built with ``struct``; the ``nla_map`` classes, made (and pyroute2 imported) on
first use, are the reference for them and for the decoder in the tests.
"""

import struct
from typing import Any

from nfacct_exporter.netlink import core
from nfacct_exporter.netlink.socket import NetfilterSocket
from nfacct_exporter.records import ConntrackStats

NFNL_SUBSYS_CTNETLINK = 1  # linux/netfilter/nfnetlink.h
NFNL_SUBSYS_CTNETLINK_EXP = 2
# enum cntl_msg_types / ctnl_exp_msg_types
IPCTNL_MSG_CT_GET_STATS_CPU = 4
IPCTNL_MSG_CT_GET_STATS = 5
IPCTNL_MSG_EXP_GET_STATS_CPU = 3

CT_GET_STATS_CPU = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS_CPU
CT_GET_STATS = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS
EXP_GET_STATS_CPU = (NFNL_SUBSYS_CTNETLINK_EXP << 8) | IPCTNL_MSG_EXP_GET_STATS_CPU

# enum ctattr_stats_global
CTA_STATS_GLOBAL_ENTRIES = 1
CTA_STATS_GLOBAL_MAX_ENTRIES = 2

# attribute number → statistic name as ``conntrack -S`` prints it (enum ctattr_stats_cpu; the
# "no longer used" ones, always 0 since kernel 4.x, are left out as conntrack -S leaves them out)
CPU_STATS = {2: "found", 4: "invalid", 8: "insert", 9: "insert_failed", 10: "drop",
             11: "early_drop", 12: "error", 13: "search_restart", 14: "clash_resolve",
             15: "chaintoolong"}
# enum ctattr_expect_stats, named as ``conntrack -S expect`` prints them
EXPECT_STATS = {1: "expect_new", 2: "expect_create", 3: "expect_delete"}


def _declare() -> dict[str, type]:
    from pyroute2.netlink.nfnetlink import nfgen_msg

    class ct_stats_cpu_msg(nfgen_msg):
        """IPCTNL_MSG_CT_GET_STATS_CPU: one CPU's conntrack statistics (res_id = CPU)."""

        prefix = "CTA_STATS_"
        nla_map = (
            ("CTA_STATS_UNSPEC", "none"),
            ("CTA_STATS_SEARCHED", "be32"),
            ("CTA_STATS_FOUND", "be32"),
            ("CTA_STATS_NEW", "be32"),
            ("CTA_STATS_INVALID", "be32"),
            ("CTA_STATS_IGNORE", "be32"),
            ("CTA_STATS_DELETE", "be32"),
            ("CTA_STATS_DELETE_LIST", "be32"),
            ("CTA_STATS_INSERT", "be32"),
            ("CTA_STATS_INSERT_FAILED", "be32"),
            ("CTA_STATS_DROP", "be32"),
            ("CTA_STATS_EARLY_DROP", "be32"),
            ("CTA_STATS_ERROR", "be32"),
            ("CTA_STATS_SEARCH_RESTART", "be32"),
            ("CTA_STATS_CLASH_RESOLVE", "be32"),
            ("CTA_STATS_CHAIN_TOOLONG", "be32"),
        )


    class ct_stats_msg(nfgen_msg):
        """IPCTNL_MSG_CT_GET_STATS: the namespace's entry count and the table's limit."""

        prefix = "CTA_STATS_GLOBAL_"
        nla_map = (
            ("CTA_STATS_GLOBAL_UNSPEC", "none"),
            ("CTA_STATS_GLOBAL_ENTRIES", "be32"),
            ("CTA_STATS_GLOBAL_MAX_ENTRIES", "be32"),
        )


    class exp_stats_cpu_msg(nfgen_msg):
        """IPCTNL_MSG_EXP_GET_STATS_CPU: one CPU's expectation statistics (res_id = CPU)."""

        prefix = "CTA_STATS_EXP_"
        nla_map = (
            ("CTA_STATS_EXP_UNSPEC", "none"),
            ("CTA_STATS_EXP_NEW", "be32"),
            ("CTA_STATS_EXP_CREATE", "be32"),
            ("CTA_STATS_EXP_DELETE", "be32"),
        )

    return {"ct_stats_cpu_msg": ct_stats_cpu_msg, "ct_stats_msg": ct_stats_msg,
            "exp_stats_cpu_msg": exp_stats_cpu_msg}


def __getattr__(name: str) -> Any:
    """The pyroute2 declarations, made (and pyroute2 imported) on first use."""
    if name in ("ct_stats_cpu_msg", "ct_stats_msg", "exp_stats_cpu_msg"):
        globals().update(_declare())
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def stats_cpu_request(seq: int) -> bytes:
    return core.request(CT_GET_STATS_CPU, core.NLM_F_REQUEST | core.NLM_F_DUMP, seq)


def stats_request(seq: int) -> bytes:
    """Not a dump: one reply message; NLM_F_ACK adds the ACK that tells the reply is complete."""
    return core.request(CT_GET_STATS, core.NLM_F_REQUEST | core.NLM_F_ACK, seq)


def exp_stats_cpu_request(seq: int) -> bytes:
    return core.request(EXP_GET_STATS_CPU, core.NLM_F_REQUEST | core.NLM_F_DUMP, seq)


_BE16 = struct.Struct(">H")


def decode(data: bytes | memoryview, mtype: int, names: dict[int, str],
           out: dict[int, dict[str, int]]) -> None:
    """Merge the be32 attributes named in ``names`` of every ``mtype`` message of one datagram
    into ``out[cpu]`` (for the global message, ``res_id`` is 0 and ``names`` its two fields)."""
    off = 0
    size = len(data)
    while off + core.HEADER_LEN <= size:
        length, t = core.LEN_TYPE.unpack_from(data, off)
        if length < 16 or off + length > size:
            return
        if t == mtype:
            values = out.setdefault(_BE16.unpack_from(data, off + 18)[0], {})
            a, end = off + core.HEADER_LEN, off + length
            while a + 8 <= end:
                alen, atype = core.ATTR.unpack_from(data, a)
                if alen < 4:
                    break
                name = names.get(atype & core.NLA_TYPE_MASK)
                if name is not None and alen >= 8:
                    values[name] = core.BE32.unpack_from(data, a + 4)[0]
                a += (alen + 3) & ~3
        off += (length + 3) & ~3


_GLOBAL = {CTA_STATS_GLOBAL_ENTRIES: "entries", CTA_STATS_GLOBAL_MAX_ENTRIES: "limit"}


def read(sock: NetfilterSocket) -> ConntrackStats:
    """The three requests; raises NetlinkError (EINVAL/EOPNOTSUPP: no conntrack in the kernel)."""
    cpus: dict[int, dict[str, int]] = {}
    for datagram in sock.dump(stats_cpu_request(sock.next_seq())):
        decode(datagram, CT_GET_STATS_CPU, CPU_STATS, cpus)
    for datagram in sock.dump(exp_stats_cpu_request(sock.next_seq())):
        decode(datagram, EXP_GET_STATS_CPU, EXPECT_STATS, cpus)
    glob: dict[int, dict[str, int]] = {}
    for datagram in sock.dump(stats_request(sock.next_seq())):
        decode(datagram, CT_GET_STATS, _GLOBAL, glob)
    g = glob.get(0, {})
    return ConntrackStats(g.get("entries", 0), g.get("limit", 0), cpus)
