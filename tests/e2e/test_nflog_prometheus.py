"""The seed's NFLOG rules, the real exporter and a real Prometheus in a test namespace: the stored
series are the exact per-prefix, per-verdict counts, and rate() works on them."""

import shutil

import pytest

from tests.support.firewall import iptables_log, nft_log
from tests.support.netns import free_port
from tests.support.prom import Prometheus

pytestmark = pytest.mark.skipif(not shutil.which("prometheus"), reason="needs Debian prometheus")

CONFIG = """\
pollinterval: 0.5
nflog:
  - group: 1
    verdict: accept
  - group: 2
    verdict: drop
"""


def test_prometheus_stores_exact_nflog_counts(ns, exporter, tmp_path) -> None:  # noqa: ANN001
    iptables_log(ns, "iptables", "udp", 31722, 1, "SSH Attempt")
    iptables_log(ns, "iptables", "udp", 31799, 2, "Input IPv4 Default DROP")
    iptables_log(ns, "ip6tables", "udp", 31799, 2, "Input IPv6 Default DROP")
    nft_log(ns, "udp", 31798, 2, 'SSH for "ever"')
    exp = exporter(CONFIG)
    prom = Prometheus(ns, tmp_path, f"127.0.0.1:{exp.port}", free_port())
    ns.udp("127.0.0.1", 31722, b"s" * 32, count=3)
    ns.udp("127.0.0.1", 31799, b"d" * 100, count=11)
    ns.udp("::1", 31799, b"d" * 100, count=4)
    ns.udp("127.0.0.1", 31798, b"e" * 2, count=6)
    want = {("1", "SSH Attempt", "accept"): (3, 3 * 60),
            ("2", "Input IPv4 Default DROP", "drop"): (11, 11 * 128),
            ("2", "Input IPv6 Default DROP", "drop"): (4, 4 * 148),
            ("2", 'SSH for "ever"', "drop"): (6, 6 * 30)}

    def stored(metric: str) -> dict:
        return {(r["metric"]["group"], r["metric"]["prefix"], r["metric"]["verdict"]):
                int(float(r["value"][1])) for r in prom.query(metric)}

    prom.wait_query("nflog_packets_total",
                    lambda _: stored("nflog_packets_total") == {k: v[0] for k, v in want.items()})
    assert stored("nflog_bytes_total") == {k: v[1] for k, v in want.items()}
    result = prom.wait_query('nflog_packets_total{prefix="SSH for \\"ever\\""}')
    assert float(result[0]["value"][1]) == 6
    assert prom.query('sum(nflog_lost_packets_total)')[0]["value"][1] == "0"
    prom.wait_query('rate(nflog_packets_total{verdict="drop"}[5s])', lambda r: len(r) == 3)
