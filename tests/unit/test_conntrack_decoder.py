"""The conntrack statistics decoder against the declared pyroute2 classes on the same bytes,
and the requests against the headers ``conntrack -S``/``-C`` send (types, flags)."""

import struct

from nfacct_exporter.netlink import conntrack, core
from nfacct_exporter.records import CONNTRACK_STATISTICS, ConntrackStats

NAMES = {**{f"CTA_STATS_{n.upper().replace('CHAINTOOLONG', 'CHAIN_TOOLONG')}": n
            for n in conntrack.CPU_STATS.values()},
         **{f"CTA_STATS_EXP_{n[len('expect_'):].upper()}": n
            for n in conntrack.EXPECT_STATS.values()}}


def message(cls: type, mtype: int, cpu: int, attrs: list[tuple[str, int]]) -> bytes:
    msg = cls()
    msg["attrs"] = attrs
    return core.encode(msg, mtype, 0x2, 7, res_id=cpu)  # NLM_F_MULTI


def test_statistic_names_in_the_tools_order():
    assert (*conntrack.CPU_STATS.values(),
                                    *conntrack.EXPECT_STATS.values()) == CONNTRACK_STATISTICS


def test_requests_ask_for_dumps_and_an_ack():
    for build, mtype, flags in ((conntrack.stats_cpu_request, conntrack.CT_GET_STATS_CPU, 0x301),
                                (conntrack.exp_stats_cpu_request, conntrack.EXP_GET_STATS_CPU,
                                 0x301),
                                (conntrack.stats_request, conntrack.CT_GET_STATS, 0x5)):
        length, t, f, seq, _pid = struct.unpack_from("=IHHII", build(9))
        assert (length, t, f, seq) == (20, mtype, flags, 9)


def test_decoder_agrees_with_the_declarations():
    values = [(name, 1000 + i * 7 + (1 << 31)) for i, name in enumerate(
        n for n in NAMES if not n.startswith("CTA_STATS_EXP_"))]
    ct = b"".join(message(conntrack.ct_stats_cpu_msg, conntrack.CT_GET_STATS_CPU, cpu,
                          [(n, v + cpu) for n, v in values]) for cpu in (0, 1, 300))
    exp = message(conntrack.exp_stats_cpu_msg, conntrack.EXP_GET_STATS_CPU, 1,
                  [("CTA_STATS_EXP_NEW", 4), ("CTA_STATS_EXP_CREATE", 5),
                   ("CTA_STATS_EXP_DELETE", 6)])
    out: dict[int, dict[str, int]] = {}
    conntrack.decode(ct, conntrack.CT_GET_STATS_CPU, conntrack.CPU_STATS, out)
    conntrack.decode(exp, conntrack.EXP_GET_STATS_CPU, conntrack.EXPECT_STATS, out)
    reference: dict[int, dict[str, int]] = {}
    off = 0
    for data, cls in ((ct, conntrack.ct_stats_cpu_msg), (exp, conntrack.exp_stats_cpu_msg)):
        off = 0
        while off < len(data):
            length = struct.unpack_from("=I", data, off)[0]
            msg = cls(data[off:off + length])
            msg.decode()
            cpu = msg["res_id"]  # declared big-endian, as the kernel sends htons(cpu)
            for name, value in msg["attrs"]:
                reference.setdefault(cpu, {})[NAMES[name]] = value
            off += length
    assert out == reference
    assert set(out) == {0, 1, 300}
    stats = ConntrackStats(3, 10, out)
    assert stats.totals()["found"] == sum(out[c]["found"] for c in out)
    assert stats.totals()["expect_new"] == 4 and stats.totals()["expect_delete"] == 6


def test_global_message_and_unknown_attributes():
    data = message(conntrack.ct_stats_msg, conntrack.CT_GET_STATS, 0,
                   [("CTA_STATS_GLOBAL_ENTRIES", 12), ("CTA_STATS_GLOBAL_MAX_ENTRIES", 65536)])
    data += struct.pack("=HH", 8, 99) + b"\0\0\0\1"  # an attribute a later kernel may add
    data = struct.pack("=I", len(data)) + data[4:]
    out: dict[int, dict[str, int]] = {}
    conntrack.decode(data, conntrack.CT_GET_STATS, {1: "entries", 2: "limit"}, out)
    assert out == {0: {"entries": 12, "limit": 65536}}


def test_truncated_datagram_is_ignored_past_the_cut():
    data = message(conntrack.ct_stats_cpu_msg, conntrack.CT_GET_STATS_CPU, 0,
                   [("CTA_STATS_FOUND", 5)])
    out: dict[int, dict[str, int]] = {}
    conntrack.decode(data + data[:10], conntrack.CT_GET_STATS_CPU, conntrack.CPU_STATS, out)
    assert out == {0: {"found": 5}}
