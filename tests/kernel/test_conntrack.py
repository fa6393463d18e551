"""Conntrack statistics read over ctnetlink equal what the conntrack tool prints for the same
namespace: after real traffic (established TCP, unreplied UDP, invalid TCP segments, ICMP errors
for unknown flows), with the host's table limit lowered for a moment (a full table), and as the
running daemon serves and sends them."""

import contextlib
import re
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from nfacct_exporter.netlink import conntrack
from nfacct_exporter.records import CONNTRACK_STATISTICS, ConntrackStats
from nfacct_exporter.sinks.prometheus.conntrack import ConntrackRenderer
from nfacct_exporter.snapshot import Reading
from nfacct_exporter.sources.conntrack import NOT_AVAILABLE, ConntrackSource
from tests.support import packets
from tests.support.carbon import graphite
from tests.support.netns import Netns

RULES = """table inet t {
  chain in { type filter hook input priority 0; ct state invalid counter; }
  chain out { type filter hook output priority 0; ct state new counter; }
}"""
MAX = Path("/proc/sys/net/netfilter/nf_conntrack_max")
BUCKETS = Path("/proc/sys/net/netfilter/nf_conntrack_buckets")


def tool_stats(ns) -> tuple[int, dict[str, int]]:
    """(``conntrack -C``, ``conntrack -S`` plus ``conntrack -S expect`` summed over CPUs)."""
    count = int(ns.run("conntrack", "-C").stdout)
    totals = dict.fromkeys(CONNTRACK_STATISTICS, 0)
    text = ns.run("conntrack", "-S").stdout + ns.run("conntrack", "-S", "expect").stdout
    for key, value in re.findall(r"(\w+)=(\d+)", text):
        if key != "cpu":
            totals[key] += int(value)
    return count, totals


def read_once(ns) -> ConntrackStats:
    src = ConntrackSource(ns.name)
    try:
        src.open()
        reading = src.read()
    finally:
        src.close()
    assert reading.ok, reading.error
    (stats,) = reading.records
    return stats


def assert_matches_tool(ns) -> dict[str, int]:
    """Ours, then the tool's, then ours again: equal (the traffic has stopped)."""
    before = read_once(ns)
    count, totals = tool_stats(ns)
    after = read_once(ns)
    assert before == after, "the figures moved while comparing"
    assert before.entries == count
    assert before.totals() == totals
    assert before.limit == int(MAX.read_text())
    return totals


def traffic() -> list[socket.socket]:
    """Runs inside the namespace; returns the sockets to keep open (established TCP)."""
    keep = []
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    for _ in range(3):
        c = socket.create_connection(srv.getsockname())
        s, _ = srv.accept()
        c.sendall(b"x")
        s.recv(1)
        s.sendall(b"y")
        c.recv(1)
        keep += [c, s]
    keep.append(srv)
    udp_sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp_sink.bind(("127.0.0.1", 0))  # bound, never answers: the flows stay unreplied
    keep.append(udp_sink)
    for _ in range(4):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.sendto(b"q", udp_sink.getsockname())
        u.close()
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    for port in range(5):  # SYN+FIN: an invalid flag combination
        raw.sendto(packets.tcp(33000 + port, 34000, 0x03), ("127.0.0.1", 0))
    raw.close()
    icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    for port in range(3):
        icmp.sendto(packets.icmp_unreachable(35000 + port), ("127.0.0.1", 0))
    icmp.close()
    return keep


def test_figures_match_the_conntrack_tool(ns):
    ns.run("nft", "-f", "-", input=RULES)
    idle = read_once(ns)
    assert idle.entries == 0 and set(idle.totals().values()) == {0}
    keep = ns.call(traffic)
    try:
        totals = assert_matches_tool(ns)
        stats = read_once(ns)
        assert stats.entries >= 7  # 3 TCP + 4 UDP
        assert totals["invalid"] >= 5
        assert totals["error"] >= 3
        text = ConntrackRenderer().render([Reading("conntrack", True, 0.0, (stats,))])
        assert f"nf_conntrack_entries {stats.entries}\n" in text
        assert f"nf_conntrack_stat_invalid_total {totals['invalid']}\n" in text
    finally:
        for s in keep:
            s.close()


@contextlib.contextmanager
def host_limit(limit: int) -> Iterator[None]:
    """Lower the host's table limit (read-only inside a namespace) for a moment, and the hash
    size to its minimum (512 buckets): early_drop only looks at the 8 buckets after the new
    entry's, so with few buckets it finds the unreplied entries to evict."""
    old_max, old_buckets = MAX.read_text(), BUCKETS.read_text()
    try:
        BUCKETS.write_text("8")
        MAX.write_text(str(limit))
        yield
    finally:
        MAX.write_text(old_max)
        BUCKETS.write_text(old_buckets)


def fill(udp: int, tcp: int, attempts: int) -> None:
    """Inside the namespace: ``udp`` unreplied flows and ``tcp`` established connections fill the
    table; each further connection attempt either evicts an unreplied entry (early_drop) or,
    finding none near its bucket, has its SYN dropped (drop)."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    for _ in range(udp):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.sendto(b"q", sink.getsockname())
        u.close()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    keep = [sink, srv]
    try:
        for _ in range(tcp):
            c = socket.create_connection(srv.getsockname(), timeout=2)
            s, _ = srv.accept()
            c.sendall(b"x")
            s.recv(1)
            s.sendall(b"y")
            c.recv(1)
            keep += [c, s]
        for _ in range(attempts):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(srv.getsockname())
            keep.append(c)
    finally:
        for s in keep:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()


def test_full_table_drops_match_the_conntrack_tool(ns):
    ns.run("nft", "-f", "-", input=RULES)
    with host_limit(60):
        ns.call(lambda: fill(40, 20, 40))
        totals = assert_matches_tool(ns)
    assert totals["early_drop"] >= 1
    assert totals["drop"] >= 1


def test_without_conntrack_up_is_0(caplog, monkeypatch):
    """No kernel here lacks conntrack; a subsystem the kernel does not have answers as a kernel
    without ctnetlink would (EINVAL), which the source reports once as unavailable."""
    monkeypatch.setattr(conntrack, "CT_GET_STATS_CPU", (15 << 8) | 4)  # no such subsystem
    src = ConntrackSource()
    try:
        src.open()
        first, second = src.read(), src.read()
    finally:
        src.close()
    assert not first.ok and NOT_AVAILABLE in first.error and not second.ok
    assert sum(NOT_AVAILABLE in r.getMessage() for r in caplog.records) == 1


@pytest.fixture
def quiet() -> Iterator[Netns]:
    """A second namespace where only the test's traffic runs: the daemon's own connections
    (scrapes, carbon) stay in ``ns`` and cannot move the figures being compared."""
    n = Netns()
    try:
        n.run("nft", "-f", "-", input=RULES)
        yield n
    finally:
        n.close()


def test_daemon_serves_and_sends_what_the_tool_prints(ns, quiet, exporter, carbon):
    """The running daemon with ``conntrack: true`` reading another namespace: /metrics and
    carbon carry the tool's figures for that namespace."""
    keep = quiet.call(traffic)
    try:
        count, totals = tool_stats(quiet)
        daemon = exporter(graphite(carbon, pollinterval=0.2)
                          + f"conntrack: true\nnetns: {quiet.name}\n")
        samples = daemon.wait_for(
            lambda s: s.get(("nf_conntrack_entries", frozenset())) == count and s)
        assert samples[("nf_conntrack_up", frozenset())] == 1
        assert samples[("nf_conntrack_entries_limit", frozenset())] == int(MAX.read_text())
        for name, value in totals.items():
            assert samples[(f"nf_conntrack_stat_{name}_total", frozenset())] == value, name
        carbon.wait_value("netfilter.conntrack.entries", count)
        carbon.wait_value("netfilter.conntrack.invalid", totals["invalid"])
    finally:
        for s in keep:
            s.close()


def test_daemon_per_cpu_and_namespaces(ns, quiet, exporter):
    """``per_cpu``: one series per CPU, numbered as ``conntrack -S`` numbers them; with a second
    namespace every series has ``netns``, and a namespace that is missing reads ``up 0``."""
    quiet.call(lambda: [s.close() for s in traffic()])
    missing = f"{quiet.name}-missing"
    daemon = exporter(f"pollinterval: 0.2\nconntrack: {{per_cpu: true}}\nnetns: {quiet.name}\n"
                      f"namespaces: [{missing}]\n")
    cpus = dict(re.findall(r"cpu=(\d+)\s+.*?invalid=(\d+)", quiet.run("conntrack", "-S").stdout))
    samples = daemon.wait_for(
        lambda s: s.get(("nf_conntrack_up", frozenset({("netns", missing)}))) == 0 and s)
    assert samples[("nf_conntrack_up", frozenset({("netns", quiet.name)}))] == 1
    assert sum(map(int, cpus.values())) > 0
    for cpu, invalid in cpus.items():
        key = frozenset({("netns", quiet.name), ("cpu", cpu)})
        assert samples[("nf_conntrack_stat_invalid_total", key)] == int(invalid)
