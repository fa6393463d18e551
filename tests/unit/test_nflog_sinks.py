"""NFLOG → Prometheus text and Graphite lines: exact, valid and distinct for hostile prefixes."""

import shutil
import subprocess

import pytest

from nfacct_exporter.config import GraphiteConfig
from nfacct_exporter.naming import graphite_component
from nfacct_exporter.records import NflogCount, NflogGroupStats
from nfacct_exporter.sinks.graphite import NflogLines
from nfacct_exporter.sinks.prometheus.nflog import NFLOG_OVERFLOW_PREFIX, NflogRenderer
from nfacct_exporter.snapshot import Reading, Snapshot
from tests.support.exposition import parse_exposition

HOSTILE = ["SSH Attempt", "SSH_Attempt", 'q"uote', "back\\slash", "new\nline", "tab\tx",
           "ünï.cødé", "", "{a}=b,c", "#comment", "~empty", "~overflow", "%7E", "x" * 127,
           "a.b", "a%2Eb"]


def reading(records: list[NflogCount], lost: int = 0) -> Reading:
    groups = sorted({r.group for r in records})
    stats = tuple(NflogGroupStats(g, lost, sum(1 for r in records if r.group == g
                                               and r.prefix is not None), 0) for g in groups)
    return Reading("nflog", True, 0.0, tuple(records),
                   extra={"groups": stats, "datagrams": 3, "receive_errors": 0})


def snap(r: Reading, seq: int = 1) -> Snapshot:
    return Snapshot(seq, 1_800_000_000.0 + seq, 0.0, {"nflog": r})


def hostile_records() -> list[NflogCount]:
    out = [NflogCount(2, p, "drop", i + 1, 100 * (i + 1)) for i, p in enumerate(HOSTILE)]
    out.append(NflogCount(2, None, "drop", 1000, 5000))
    out.append(NflogCount(2, None, "accept", 7, 70))
    out.append(NflogCount(65535, "SSH Attempt", "log", 9, 900))
    return out


def test_prometheus_labels_come_out_exact() -> None:
    text = NflogRenderer().render([reading(hostile_records(), lost=4)])
    samples = parse_exposition(text)
    for i, p in enumerate(HOSTILE):
        labels = frozenset({"group": "2", "prefix": p, "verdict": "drop"}.items())
        assert samples[("nflog_packets_total", labels)] == i + 1
        assert samples[("nflog_bytes_total", labels)] == 100 * (i + 1)
    over = frozenset({"group": "2", "prefix": NFLOG_OVERFLOW_PREFIX, "verdict": "drop"}.items())
    assert samples[("nflog_packets_total", over)] == 1000
    assert samples[("nflog_lost_packets_total", frozenset({"group": "2"}.items()))] == 4
    assert samples[("nflog_packets_total", frozenset(
        {"group": "65535", "prefix": "SSH Attempt", "verdict": "log"}.items()))] == 9
    n = sum(1 for (m, _) in samples if m == "nflog_packets_total")
    assert n == len(HOSTILE) + 3


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool (Debian prometheus) missing")
def test_promtool_accepts_hostile_prefixes() -> None:
    text = NflogRenderer().render([reading(hostile_records())])
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                          capture_output=True)
    assert lint.returncode == 0, lint.stderr + lint.stdout


def test_overflow_value_can_never_be_a_real_prefix() -> None:
    # kernel NF_LOG_PREFIXLEN is 128 with the NUL; prefixes that are not UTF-8 render with "\"
    assert len(NFLOG_OVERFLOW_PREFIX.encode()) > 127 and "\\" not in NFLOG_OVERFLOW_PREFIX


def test_prefixes_rendering_alike_are_summed_not_duplicated() -> None:
    # b"\xff" (not UTF-8) renders as the text \xff, like a prefix that is that text
    records = [NflogCount(1, "\udcff", "drop", 1, 10), NflogCount(1, "\\xff", "drop", 2, 20)]
    text = NflogRenderer().render([reading(records)])
    rows = [line for line in text.splitlines() if line.startswith("nflog_packets_total{")]
    assert rows == ['nflog_packets_total{group="1",prefix="\\\\xff",verdict="drop"} 3']


def graphite(mode: str = "total") -> NflogLines:
    return NflogLines(GraphiteConfig(host="h", mode=mode, nflog_prefix="netfilter.nflog"))


def parse_lines(lines: list[str]) -> dict[str, int]:
    out = {}
    for line in "".join(lines).splitlines():
        path, value, ts = line.split(" ")
        assert path not in out, f"duplicate path {path}"
        out[path] = int(value)
        assert ts == str(1_800_000_001)
    return out


def test_graphite_paths_are_valid_and_distinct() -> None:
    got = parse_lines(graphite().lines(snap(reading(hostile_records(), lost=4))))
    base = "netfilter.nflog.2.drop."
    for i, p in enumerate(HOSTILE):
        part = graphite_component(p) if p else "~empty"
        assert got[f"{base}{part}.pkts"] == i + 1
        assert got[f"{base}{part}.bytes"] == 100 * (i + 1)
    assert got[f"{base}~overflow.pkts"] == 1000
    assert got["netfilter.nflog.2.accept.~overflow.bytes"] == 70
    assert got["netfilter.nflog.2.lost.pkts"] == 4
    assert got["netfilter.nflog.65535.log.SSH%20Attempt.pkts"] == 9
    assert len(got) == 2 * (len(HOSTILE) + 3) + 2  # + lost of groups 2 and 65535
    for path in got:
        parts = path.split(".")
        assert all(parts) and not any(c.isspace() for c in path), path
        assert len(parts) in (5, 6), path  # prefix (2 parts) + group, verdict, log prefix, pkts


def test_graphite_delta_mode() -> None:
    lines = graphite("delta")
    first = [NflogCount(1, "a", "drop", 5, 50)]
    assert lines.lines(snap(reading(first), 0)) == []  # baseline only
    second = [NflogCount(1, "a", "drop", 8, 80), NflogCount(1, "b", "accept", 2, 20)]
    got = parse_lines(lines.lines(snap(reading(second), 1)))
    assert got == {"netfilter.nflog.1.drop.a.pkts": 3, "netfilter.nflog.1.drop.a.bytes": 30,
                   "netfilter.nflog.1.accept.b.pkts": 2, "netfilter.nflog.1.accept.b.bytes": 20,
                   "netfilter.nflog.1.lost.pkts": 0}


def test_failed_reading_renders_nothing() -> None:
    bad = Reading("nflog", False, 0.0, error="listener died")
    assert graphite().lines(snap(bad)) == []
