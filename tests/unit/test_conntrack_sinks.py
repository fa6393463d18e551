"""Conntrack renderers: node_exporter's metric names, sums over CPUs or a ``cpu`` label,
``netns`` labels with several namespaces, Graphite paths; promtool accepts the text."""

import shutil
import subprocess

import pytest

from nfacct_exporter import naming
from nfacct_exporter.config import GraphiteConfig
from nfacct_exporter.records import CONNTRACK_STATISTICS, ConntrackStats
from nfacct_exporter.sinks.graphite import ConntrackLines
from nfacct_exporter.sinks.prometheus.conntrack import ConntrackRenderer
from nfacct_exporter.snapshot import Reading, Snapshot

STATS = ConntrackStats(5, 1024, {0: {"found": 1, "invalid": 2, "expect_new": 1},
                                 1: {"found": 10, "drop": 3}})


def test_summed_over_cpus():
    text = ConntrackRenderer().render([Reading("conntrack", True, 0.0, (STATS,))])
    assert "# TYPE nf_conntrack_entries gauge\nnf_conntrack_entries 5\n" in text
    assert "nf_conntrack_entries_limit 1024\n" in text
    assert ("# TYPE nf_conntrack_stat_found_total counter\n"
            "nf_conntrack_stat_found_total 11\n") in text
    assert "nf_conntrack_stat_insert_failed_total 0\n" in text
    assert "nf_conntrack_stat_expect_new_total 1\n" in text
    assert "nf_conntrack_stat_chaintoolong_total 0\n" in text
    assert text.count("\nnf_conntrack_stat_") == len(CONNTRACK_STATISTICS)


def test_per_cpu_and_namespaces():
    readings = [Reading("conntrack", True, 0.0, (STATS,), netns="a")]
    text = ConntrackRenderer(per_cpu=True).render(readings)
    assert 'nf_conntrack_stat_found_total{netns="a",cpu="0"} 1\n' in text
    assert 'nf_conntrack_stat_found_total{netns="a",cpu="1"} 10\n' in text
    assert 'nf_conntrack_entries{netns="a"} 5\n' in text


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool not installed")
def test_promtool_accepts_it():
    text = ConntrackRenderer(per_cpu=True).render([Reading("conntrack", True, 0.0, (STATS,))])
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr


def test_graphite_lines():
    snap = Snapshot(1, 1700000000.5, 0.0, {
        "conntrack": Reading("conntrack", True, 0.0, (STATS,)),
    })
    lines = ConntrackLines(GraphiteConfig("carbon")).lines(snap)
    assert "netfilter.conntrack.entries 5 1700000000\n" in lines
    assert "netfilter.conntrack.entries_limit 1024 1700000000\n" in lines
    assert "netfilter.conntrack.found 11 1700000000\n" in lines
    assert "netfilter.conntrack.expect_delete 0 1700000000\n" in lines
    lines_of = ConntrackLines(GraphiteConfig("carbon", conntrack_prefix="p"), per_cpu=True)
    per_cpu = lines_of.lines(Snapshot(1, 5.0, 0.0, {
        "conntrack@x.y": Reading("conntrack", True, 0.0, (STATS,), netns="x.y"),
        "conntrack@z": Reading("conntrack", False, 0.0, netns="z")}))
    ns = naming.graphite_component("x.y")
    assert f"p.{ns}.cpu1.drop 3 5\n" in per_cpu and f"p.{ns}.cpu0.drop 0 5\n" in per_cpu
    assert not any(x.startswith("p.z.") for x in per_cpu)
