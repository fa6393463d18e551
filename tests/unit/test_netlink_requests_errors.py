"""Requests built with ``struct`` equal the pyroute2 declarations' encoding, byte for byte; a
malformed message in a dump is skipped and counted, and the count is exported; the daemon's
modules never import pyroute2."""

import struct
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from nfacct_exporter.instrumentation import DecodeErrors
from nfacct_exporter.netlink import conntrack, core, nfacct, nflog, nft
from nfacct_exporter.netlink.nfacct_dumper import Dumper
from nfacct_exporter.snapshot import Reading, Snapshot


@pytest.mark.parametrize("seq", [1, 0xFFFFFFFF])
def test_requests_equal_the_declared_messages(seq: int) -> None:
    flags = core.NLM_F_REQUEST | core.NLM_F_DUMP
    assert nfacct.acct_dump_request(seq) == core.encode(nfacct.nfacct_msg(), nfacct.ACCT_GET,
                                                        flags, seq)
    for name, quota, in_bytes in (("a", None, False), ("ipv4.svc000001", None, False),
                                  ("month", 10**12, True), ("pk", 5, False), ("ünï", None, False)):
        msg = nfacct.nfacct_msg()
        msg["attrs"] = [("NFACCT_NAME", name)] + ([] if quota is None else [
            ("NFACCT_FLAGS", nfacct.NFACCT_F_QUOTA_BYTES if in_bytes else
             nfacct.NFACCT_F_QUOTA_PKTS), ("NFACCT_QUOTA", quota)])
        new = core.NLM_F_REQUEST | core.NLM_F_ACK | core.NLM_F_CREATE | core.NLM_F_EXCL
        assert nfacct.acct_new_request(name, seq, quota, in_bytes) == core.encode(
            msg, nfacct.ACCT_NEW, new, seq)
    msg = nft.nft_obj_msg()
    msg["attrs"] = [("NFTA_OBJ_TYPE", nft.NFT_OBJECT_COUNTER)]
    assert nft.counters_dump_request(seq) == core.encode(msg, nft.NFT_GETOBJ, flags, seq)
    for group, qthreshold, qtimeout in ((0, 1, 0), (1, 1024, 10), (65535, 50000, 100)):
        msg = nflog.nflog_config_msg()
        msg["attrs"] = [
            ("NFULA_CFG_CMD", nflog.NFULNL_CFG_CMD_BIND),
            ("NFULA_CFG_MODE", {"copy_range": nflog.COPY_RANGE,
                                "copy_mode": nflog.NFULNL_COPY_PACKET}),
            ("NFULA_CFG_NLBUFSIZ", nflog.NLBUFSIZ), ("NFULA_CFG_QTHRESH", qthreshold),
            ("NFULA_CFG_TIMEOUT", qtimeout), ("NFULA_CFG_FLAGS", nflog.NFULNL_CFG_F_SEQ)]
        assert nflog.config_request(group, seq, qthreshold, qtimeout) == core.encode(
            msg, nflog.ULOG_CONFIG, core.NLM_F_REQUEST | core.NLM_F_ACK, seq, res_id=group)
    for build, cls, mtype, f in (
            (conntrack.stats_cpu_request, conntrack.ct_stats_cpu_msg, conntrack.CT_GET_STATS_CPU,
             flags),
            (conntrack.stats_request, conntrack.ct_stats_msg, conntrack.CT_GET_STATS,
             core.NLM_F_REQUEST | core.NLM_F_ACK),
            (conntrack.exp_stats_cpu_request, conntrack.exp_stats_cpu_msg,
             conntrack.EXP_GET_STATS_CPU, flags)):
        assert build(seq) == core.encode(cls(), mtype, f, seq)


def test_the_daemon_never_imports_pyroute2() -> None:
    code = ("import sys, nfacct_exporter.cli, nfacct_exporter.pipeline, nfacct_exporter.daemon;"
            "print(sorted(m for m in sys.modules if m.startswith('pyroute2')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def message(mtype: int, attrs: bytes, seq: int = 1) -> bytes:
    return core.NLMSG.pack(20 + len(attrs), mtype, 2, seq, 0) + bytes(4) + attrs


def acct(name: bytes, pkts: int, nbytes: int) -> bytes:
    return message(nfacct.ACCT_NEW, core.attr(nfacct.NFACCT_NAME, name + b"\0")
                   + core.attr(nfacct.NFACCT_PKTS, struct.pack(">Q", pkts))
                   + core.attr(nfacct.NFACCT_BYTES, struct.pack(">Q", nbytes))
                   + core.attr(nfacct.NFACCT_USE, struct.pack(">I", 1)))


DONE = core.NLMSG.pack(20, core.NLMSG_DONE, 2, 1, 0) + bytes(4)
NO_NAME = message(nfacct.ACCT_NEW, core.attr(nfacct.NFACCT_PKTS, struct.pack(">Q", 1)))
PAST_END = message(nfacct.ACCT_NEW, core.ATTR.pack(200, nfacct.NFACCT_NAME) + b"x\0\0\0")
SHORT_VALUE = message(nfacct.ACCT_NEW, core.attr(nfacct.NFACCT_NAME, b"s\0")
                      + core.attr(nfacct.NFACCT_QUOTA, b"\1\2"))


class Replay:
    """A socket that answers every dump with the same datagrams."""

    def __init__(self, datagrams: list[bytes]) -> None:
        self.datagrams = datagrams

    def dump_seq(self) -> int:
        return 1

    def dump_into(self, request: bytes, consume) -> None:  # noqa: ANN001
        for data in self.datagrams:
            off = 0
            while off + 16 <= len(data):
                off = consume(data, off)
                if off + 16 > len(data) or core.LEN_TYPE.unpack_from(data, off)[1] == 3:
                    break
                off += (core.LEN_TYPE.unpack_from(data, off)[0] + 3) & ~3


def test_malformed_nfacct_messages_are_skipped_and_counted() -> None:
    cut = acct(b"c", 5, 6)
    cut = core.NLMSG.pack(len(cut) + 64, *core.NLMSG.unpack_from(cut)[1:]) + cut[16:]
    datagram = acct(b"a", 1, 2) + NO_NAME + SHORT_VALUE + PAST_END + acct(b"b", 3, 4) + cut
    out: list = []
    assert nfacct.decode(datagram, out) == len(datagram)  # the cut-short message ends it
    assert [o.name for o in out] == ["a", "b"]
    dumper = Dumper()
    sock = Replay([datagram, DONE])
    for _poll in (1, 2):  # the second poll reuses the decoding, and counts nothing again
        assert [(o.name, o.packets) for o in dumper(sock)] == [("a", 1), ("b", 3)]
        assert dumper.errors == 4


def test_malformed_nft_messages_are_skipped_and_counted() -> None:
    def obj(name: bytes, data: bytes) -> bytes:
        return message(nft.NFT_NEWOBJ, core.attr(nft.NFTA_OBJ_TABLE, b"t\0")
                       + core.attr(nft.NFTA_OBJ_NAME, name + b"\0")
                       + core.attr(nft.NFTA_OBJ_TYPE, struct.pack(">I", 1))
                       + core.attr(nft.NFTA_OBJ_DATA | 0x8000, data))
    counter = (core.attr(nft.NFTA_COUNTER_BYTES, struct.pack(">Q", 9))
               + core.attr(nft.NFTA_COUNTER_PACKETS, struct.pack(">Q", 3)))
    out: list = []
    assert nft.decode(obj(b"ok", counter) + obj(b"bad", core.ATTR.pack(12, 1) + b"\1")
                      + obj(b"ok2", counter), out) == 1
    assert [(c.name, c.packets, c.bytes) for c in out] == [("ok", 3, 9), ("ok2", 3, 9)]


def test_decode_errors_are_exported_per_source() -> None:
    def snap(nfacct_errors: int, ok: bool = True) -> Snapshot:
        extra = {"decode_errors": nfacct_errors} if ok else {}
        return Snapshot(1, 1.0, 0.0, {
            "nfacct@a": Reading("nfacct", ok, 0.0, extra=extra, netns="a"),
            "nfacct@b": Reading("nfacct", True, 0.0, extra={"decode_errors": 1}, netns="b"),
            "nft@a": Reading("nft", True, 0.0, extra={"decode_errors": 0}, netns="a")})
    current = [snap(2)]
    reg = CollectorRegistry()
    reg.register(DecodeErrors(lambda: current[0]))
    text = generate_latest(reg).decode()
    assert 'nfacct_exporter_decode_errors_total{source="nfacct"} 3.0' in text
    assert 'nfacct_exporter_decode_errors_total{source="nft"} 0.0' in text
    current[0] = snap(0, ok=False)  # a failed read does not take its count away
    assert 'source="nfacct"} 3.0' in generate_latest(reg).decode()
