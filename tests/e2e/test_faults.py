"""Faults injected around the running daemon, with the real kernel in a test namespace: every
object flushed and recreated under the same names, 10,000 objects in churn, a namespace
vanishing again and again, an NFLOG group held by another socket, and carbon resetting,
hanging or closing mid-line. The exported values follow the kernel and nothing is lost that is
not counted."""

import os
import shutil
import subprocess
import time

import pytest

from nfacct_exporter.netlink import nflog
from nfacct_exporter.netlink.socket import NetfilterSocket
from tests.support.carbon import CARBON_CACHE, PREFIX, graphite
from tests.support.churn import Churn
from tests.support.daemon import Daemon
from tests.support.faulty import MIDLINE, RST, SILENT, FaultyCarbon
from tests.support.firewall import counters, iptables_log, kernel_counters
from tests.support.netns import Netns
from tests.support.polls import PollRecorder, Traffic, expected_points, wait_delivered
from tests.support.waiting import until

needs_carbon = pytest.mark.skipif(not shutil.which(CARBON_CACHE), reason="needs graphite-carbon")


def exported(samples: dict) -> dict[str, tuple[int, int]]:
    out: dict[str, list[int]] = {}
    for (metric, labels), value in samples.items():
        if metric in ("nfacct_packets_total", "nfacct_bytes_total"):
            out.setdefault(dict(labels)["name"], [0, 0])[metric == "nfacct_bytes_total"] = int(
                value)
    return {k: (v[0], v[1]) for k, v in out.items()}


def own(samples: dict, metric: str, **labels: str) -> float:
    return sum(v for (m, lbl), v in samples.items()
               if m == metric and set(labels.items()) <= set(lbl))


def has(samples: dict, metric: str, **labels: str) -> bool:
    return any(m == metric and set(labels.items()) <= set(lbl) for m, lbl in samples)


@needs_carbon
def test_objects_flushed_and_recreated_follow_the_kernel(ns, carbon, exporter) -> None:  # noqa: ANN001
    rules = {"ipv4.web": 31401, "ipv6.web": 31402}
    counters(ns, rules)
    exp = exporter(graphite(carbon, "  mode: delta\n", pollinterval=1))
    ns.udp("127.0.0.1", 31401, b"w" * 30, count=7)
    ns.udp("::1", 31402, b"w" * 30, count=4)
    before = kernel_counters(ns)
    exp.wait_for(lambda s: exported(s) == before)
    ns.sh("iptables -F INPUT; ip6tables -F INPUT; nfacct flush")
    counters(ns, rules)  # the same names, counting from zero
    ns.udp("127.0.0.1", 31401, b"w" * 30, count=2)
    after = kernel_counters(ns)
    assert after["ipv4.web"][0] == 2 < before["ipv4.web"][0]
    exp.wait_for(lambda s: exported(s) == after)  # the values went down with the kernel's
    want = {"ipv4.web": before["ipv4.web"][0] + 2, "ipv6.web": before["ipv6.web"][0]}
    for name, total in want.items():  # a reset counts from zero: deltas sum to what was counted
        metric = f"{PREFIX}.{name}.pkts"
        until(lambda m=metric, t=total: sum(carbon.points(m).values()) == t, 20, metric, 0.3)
        assert min(carbon.points(metric).values()) >= 0, carbon.points(metric)
    assert carbon.problems() == []
    assert own(exp.samples(), "nfacct_exporter_poll_errors_total") == 0


def test_ten_thousand_objects_in_churn_no_errors_no_stale_series(ns, exporter) -> None:  # noqa: ANN001
    counters(ns, {"ipv4.keep": 31411})
    exp = exporter("pollinterval: 1\n")
    ns.udp("127.0.0.1", 31411, b"k", count=3)
    seen: set[str] = set()
    churn = Churn(ns.name, batch=1000, period=0.5).start()
    try:
        deadline = time.monotonic() + 30
        while churn.created < 10_000 and time.monotonic() < deadline:
            s = exp.samples()
            assert own(s, "nfacct_up") == 1, exp.text()
            seen |= {n for n in exported(s) if n.startswith("churn.")}
            time.sleep(0.5)
    finally:
        created, deleted, errors = churn.stop()
    assert created >= 10_000 and deleted == created and errors == [], (created, deleted, errors)
    assert len(seen) >= 2000, "polls saw the churned objects"
    s = exp.wait_for(lambda s: set(exported(s)) == {"ipv4.keep"} and s, timeout=5)
    assert exported(s)["ipv4.keep"] == kernel_counters(ns)["ipv4.keep"]
    assert own(s, "nfacct_exporter_poll_errors_total") == 0
    assert own(s, "nfacct_exporter_objects") == 1
    assert "Traceback" not in exp.output() and "WARNING" not in exp.output(), exp.output()


def test_namespace_vanishing_again_and_again_leaks_nothing(ns, exporter) -> None:  # noqa: ANN001
    other = Netns()
    try:
        exp = exporter(f"pollinterval: 0.1\nnamespaces: [{other.name}]\n")
        fds = len(os.listdir(f"/proc/{exp.proc.pid}/fd"))
        for i in range(15):
            subprocess.run(["ip", "netns", "del", other.name], check=True)
            time.sleep(0.15)
            subprocess.run(["ip", "netns", "add", other.name], check=True)
            other.run("nfacct", "add", f"round.{i}")
            exp.wait_for(lambda s, i=i: has(s, "nfacct_packets_total", netns=other.name,
                                            name=f"round.{i}")
                         and own(s, "nfacct_up", netns=other.name) == 1)
        s = exp.samples()
        names = {dict(lbl)["name"] for (m, lbl) in s if m == "nfacct_packets_total"}
        assert names == {"round.14"}, names  # no stale series of earlier instances
        after = len(os.listdir(f"/proc/{exp.proc.pid}/fd"))
        assert after <= fds + 1, (fds, after)
        warnings = [line for line in exp.output().splitlines() if "WARNING" in line]
        assert len(warnings) <= 2 * 15 + 1, warnings  # one line per event, not per poll
    finally:
        other.close()


def test_nflog_group_held_by_another_socket_binds_once_released(ns, tmp_path) -> None:  # noqa: ANN001
    """At start-up a held group is refused (exit 1, one line: tests/kernel/test_nflog.py). When
    the namespace comes back with the group held, the daemon says so in one line and binds as
    soon as the holder lets go."""
    other, holding = Netns(), Netns()
    holder = None
    try:
        exp = Daemon(ns, tmp_path, f"pollinterval: 0.2\nnetns: {other.name}\n"
                     "nflog:\n  - group: 7\n    verdict: drop\n").ready()
        subprocess.run(["ip", "netns", "del", other.name], check=True)
        exp.wait_for(lambda s: has(s, "nfacct_exporter_source_success", source="nflog")
                     and own(s, "nfacct_exporter_source_success", source="nflog") == 0)
        holder = holding.call(NetfilterSocket)
        nflog.bind(holder, 7, 10, 10)
        iptables_log(holding, "iptables", "udp", 31421, 7, "held")
        # the namespace comes back under its name with the group already taken (no race)
        subprocess.run(["sh", "-ec", f"touch /run/netns/{other.name}; mount --bind "
                        f"/run/netns/{holding.name} /run/netns/{other.name}"], check=True)
        time.sleep(1.5)  # several polls find the group held
        held = [line for line in exp.output().splitlines() if "NFLOG group 7" in line]
        assert len(held) == 1 and "already bound" in held[0], exp.output()
        holder.close()
        holder = None
        exp.wait_for(lambda s: own(s, "nfacct_exporter_source_success", source="nflog") == 1)
        holding.udp("127.0.0.1", 31421, b"h", count=3)
        exp.wait_for(lambda s: own(s, "nflog_packets_total", prefix="held") == 3)
        assert exp.proc.poll() is None
        assert len([ln for ln in exp.output().splitlines() if "NFLOG group 7" in ln]) == 1
    finally:
        if holder is not None:
            holder.close()
        subprocess.run(["umount", f"/run/netns/{other.name}"], check=False, capture_output=True)
        other.close()
        holding.close()


@needs_carbon
def test_carbon_reset_hung_and_closing_mid_line_loses_nothing_uncounted(ns, carbon, exporter) -> None:  # noqa: ANN001,E501
    names = {f"ipv4.f{i:03d}": 31500 + i for i in range(40)}  # enough lines to fill a hung peer
    counters(ns, names)
    proxy = FaultyCarbon(ns, carbon.port, [RST, RST, SILENT, MIDLINE, MIDLINE])
    try:
        exp = exporter(f"pollinterval: 0.5\ngraphite:\n  host: 127.0.0.1\n  port: {proxy.port}\n"
                       "  timeout: 2\n")
        with Traffic(ns, 31500), PollRecorder(exp) as rec:
            proxy.wait_seen(6, timeout=60)  # every fault, then a faithful connection
            until(lambda: own(exp.samples(), "nfacct_exporter_graphite_connected") == 1
                  and own(exp.samples(), "nfacct_exporter_graphite_backlog_lines") == 0, 60,
                  "drained")
            time.sleep(1.5)
        s = exp.samples()
        failures = (own(s, "nfacct_exporter_graphite_connect_failures_total")
                    + own(s, "nfacct_exporter_graphite_send_failures_total"))
        assert failures >= 4, (proxy.seen, failures)  # counted: resets, the hang, the cuts
        dropped = own(s, "nfacct_exporter_graphite_lines_dropped_total")
        assert dropped == 0
        for index, suffix in ((0, "pkts"), (1, "bytes")):
            want = expected_points(rec.polls, "ipv4.f000", index)
            wait_delivered(carbon, f"{PREFIX}.ipv4.f000.{suffix}", want)
        assert carbon.problems() == []
        assert "Traceback" not in exp.output()
    finally:
        proxy.close()
