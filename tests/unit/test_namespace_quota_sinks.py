"""Sinks with several namespaces, quota objects and nft counters (fake readings, real
renderers): series stay distinct, the exposition lints, Graphite paths stay apart."""

import shutil
import subprocess

import pytest

from nfacct_exporter import config
from nfacct_exporter.records import NfacctObject, NftCounter
from nfacct_exporter.sinks.graphite import NfacctLines, NftLines
from nfacct_exporter.sinks.prometheus.nfacct import NfacctRenderer
from nfacct_exporter.sinks.prometheus.nft import NftRenderer
from nfacct_exporter.snapshot import Reading, Snapshot
from tests.support.exposition import parse_exposition

RULES = config.from_text("labels:\n  - parts: [family, app]\n").labels
GRAPHITE = config.GraphiteConfig(host="h", prefix="p")


def readings() -> list[Reading]:
    quota = NfacctObject("month", 5, 900, quota=800, quota_unit="bytes", over_quota=True)
    return [
        Reading("nfacct", True, 0.0, (NfacctObject("ipv4.http", 1, 10), quota),
                extra={"over_quota_events": {"month": 1}}, netns="self"),
        Reading("nfacct", True, 0.0, (NfacctObject("ipv4.http", 2, 20),), netns="blue"),
    ]


def test_prometheus_keeps_namespaces_apart_and_renders_quotas() -> None:
    text = b"".join(NfacctRenderer(RULES).render(readings())).decode()
    s = parse_exposition(text)

    def key(metric: str, **labels: str) -> tuple:
        return (metric, frozenset(labels.items()))
    assert s[key("nfacct_packets_total", netns="self", name="ipv4.http", family="ipv4",
                 app="http")] == 1
    assert s[key("nfacct_packets_total", netns="blue", name="ipv4.http", family="ipv4",
                 app="http")] == 2
    assert s[key("nfacct_quota_bytes", netns="self", name="month")] == 800
    assert s[key("nfacct_over_quota", netns="self", name="month")] == 1
    assert s[key("nfacct_over_quota_events_total", netns="self", name="month")] == 1
    assert text.count("# TYPE nfacct_packets_total") == 1
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                           capture_output=True)
        assert r.returncode == 0, r.stderr


def test_graphite_paths_carry_the_namespace_and_quota_lines() -> None:
    snap = Snapshot(1, 1000.0, 0.0, {"nfacct": readings()[0], "nfacct@blue": readings()[1]})
    lines = NfacctLines(GRAPHITE, RULES).chunk(snap).decode().splitlines()
    assert "p.self.ipv4.http.pkts 1 1000" in lines
    assert "p.blue.ipv4.http.pkts 2 1000" in lines
    assert "p.self.month.quota 800 1000" in lines
    assert "p.self.month.overquota 1 1000" in lines
    assert len(lines) == len(set(lines)) == 2 * 3 + 2


@pytest.mark.parametrize("netns", [None, "blue"])
def test_nft_counters_render_and_paths(netns: str | None) -> None:
    r = Reading("nft", True, 0.0, (NftCounter("inet", "filter", "ipv4.dns", 3, 300),
                                   NftCounter("ip", "t", "x y", 1, 2)), netns=netns)
    s = parse_exposition(NftRenderer(RULES).render([r]))
    base = {"family": "inet", "table": "filter", "name": "ipv4.dns", "app": "dns"}
    if netns:
        base["netns"] = netns
    # the mapped label `family` never replaces the table's family
    assert s[("nftables_bytes_total", frozenset(base.items()))] == 300
    lines = NftLines(GRAPHITE).chunk(Snapshot(1, 7.0, 0.0, {"nft": r})).decode().splitlines()
    ns = f"{netns}." if netns else ""
    assert f"p.{ns}inet.filter.ipv4%2Edns.bytes 300 7" not in lines  # nft_prefix, not prefix
    assert f"netfilter.nft.{ns}inet.filter.ipv4%2Edns.bytes 300 7" in lines
    assert f"netfilter.nft.{ns}ip.t.x%20y.pkts 1 7" in lines
