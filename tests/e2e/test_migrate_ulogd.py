"""ulogd2 and the exporter configured by ``nfacct-exporter migrate`` from the same ulogd.conf,
side by side on identical NFACCT objects and traffic, each into its own real carbon-cache: the
same Graphite paths, and in delta mode (``zerocounter=1``) the same value for every interval.

ulogd's dump-and-reset would disturb a second reader of the same objects, so each runs in its
own namespace with the same objects, rules and bursts; each burst is sent just after a poll of
that side, so its whole count belongs to that side's next interval.
"""

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.carbon import CARBON_CACHE, Carbon
from tests.support.daemon import Daemon
from tests.support.firewall import counters
from tests.support.netns import Netns
from tests.support.waiting import until

pytestmark = pytest.mark.skipif(not shutil.which("ulogd") or not shutil.which(CARBON_CACHE),
                                reason="needs Debian ulogd2 and graphite-carbon")

PLUGINS = "/usr/lib/x86_64-linux-gnu/ulogd"
ULOGD_CONF = """\
[global]
logfile="{log}"
loglevel=3
plugin="{plugins}/ulogd_inpflow_NFACCT.so"
plugin="{plugins}/ulogd_output_GRAPHITE.so"
stack=acct1:NFACCT,graphite1:GRAPHITE

[acct1]
pollinterval=2

[graphite1]
host="127.0.0.1"
port="{port}"
prefix="netfilter.nfacct"
"""
OBJECTS = {"ipv4.http": 31080, "ipv6.http": 31081, "lan.ipv4.ssh": 31022}
PAYLOAD = 72  # bytes of UDP payload: IPv4 length 100, IPv6 payload length 80 (+40 header)
BURSTS = [3, 7, 2]
PREFIX = "netfilter.nfacct"
METRICS = [f"{PREFIX}.{n}.{k}" for n in OBJECTS for k in ("pkts", "bytes")]


def expected(name: str, kind: str, packets: int) -> int:
    if kind == "pkts":
        return packets
    return packets * (PAYLOAD + (48 if name.startswith("ipv6.") else 28))


class Side:
    """One namespace: its objects and rules, its carbon, and the bursts it was sent."""

    def __init__(self, ns: Netns, tmp: Path) -> None:
        self.ns, self.tmp = ns, tmp
        tmp.mkdir()
        counters(ns, {n: p for n, p in OBJECTS.items() if not n.startswith("lan.")})
        ns.run("nfacct", "add", "lan.ipv4.ssh")
        ns.run("iptables", "-A", "INPUT", "-p", "udp", "--dport", "31022", "-m", "nfacct",
               "--nfacct-name", "lan.ipv4.ssh")
        self.carbon = Carbon(ns, tmp).start()
        self.conf = tmp / "ulogd.conf"
        self.conf.write_text(ULOGD_CONF.format(log=tmp / "ulogd.log", plugins=PLUGINS,
                                               port=self.carbon.port))
        self.marks: list[dict[str, int]] = []  # per burst: each metric's last point before it
        self.error: BaseException | None = None

    def latest(self) -> dict[str, int]:
        return {m: max(self.carbon.points(m), default=0) for m in METRICS}

    def after(self, mark: dict[str, int]) -> dict[str, int]:
        """Wait for a poll after ``mark`` (every metric has a newer point); the new marks."""
        def polled() -> dict[str, int] | None:
            now = self.latest()
            return now if all(now[m] > mark[m] for m in METRICS) else None
        return until(polled, 20, "a poll reaching carbon", 0.05)

    def drive(self) -> None:
        try:
            mark = self.after(dict.fromkeys(METRICS, 0))
            for packets in BURSTS:
                self.marks.append(mark)
                for name, port in OBJECTS.items():
                    host = "::1" if name.startswith("ipv6.") else "127.0.0.1"
                    self.ns.udp(host, port, b"u" * PAYLOAD, count=packets)
                mark = self.after(mark)
            self.marks.append(mark)
        except BaseException as e:  # re-raised by the test
            self.error = e

    def intervals(self, metric: str) -> list[float]:
        """The values of every point after the first burst's mark, in time order."""
        pts = self.carbon.points(metric)
        return [v for t, v in sorted(pts.items()) if t > self.marks[0][metric]]

    def burst_values(self, metric: str) -> list[float]:
        pts = self.carbon.points(metric)
        return [pts[min(t for t in pts if t > mark[metric])] for mark in self.marks[:-1]]


def test_same_paths_and_values_per_interval(ns, tmp_path) -> None:  # noqa: ANN001
    other = Netns()
    try:
        ulogd, ours = Side(ns, tmp_path / "ulogd"), Side(other, tmp_path / "exporter")
        migrated = subprocess.run([sys.executable, "-m", "nfacct_exporter", "migrate",
                                   str(ours.conf)], capture_output=True, text=True, check=True)
        assert "mode: delta" in migrated.stdout and migrated.stderr == ""
        ns.popen(["ulogd", "-c", str(ulogd.conf)], stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
        Daemon(other, ours.tmp, migrated.stdout).ready()
        threads = [threading.Thread(target=side.drive) for side in (ulogd, ours)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for side in (ulogd, ours):
            if side.error is not None:
                raise side.error
        time.sleep(0.2)
        assert ulogd.carbon.metrics() == ours.carbon.metrics() == set(METRICS)
        for metric in METRICS:
            name, kind = metric[len(PREFIX) + 1:].rsplit(".", 1)
            want = [expected(name, kind, n) for n in BURSTS]
            assert ulogd.burst_values(metric) == ours.burst_values(metric) == want, metric
            for side in (ulogd, ours):  # every other interval: nothing counted
                values = side.intervals(metric)
                assert sorted(values) == sorted([0.0] * (len(values) - len(want)) + want), (
                    metric, values)
    finally:
        other.close()
