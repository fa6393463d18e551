"""A real Prometheus scrapes the real exporter; the series it stores equal the kernel's counts."""

import shutil

import pytest

from tests.support.firewall import kernel_counters
from tests.support.netns import free_port
from tests.support.prom import Prometheus

pytestmark = pytest.mark.skipif(not shutil.which("prometheus"), reason="needs Debian prometheus")

CONFIG = """\
pollinterval: 0.5
labels:
  - match: 'ipv4.*'
    labels: {family: ipv4, app: "$1"}
"""


def test_prometheus_scrapes_exact_counters(ns, exporter, tmp_path) -> None:  # noqa: ANN001
    ns.run("nfacct", "add", "ipv4.dns")
    ns.run("nfacct", "add", 'odd "name"\\x')
    ns.sh("iptables -A INPUT -p udp --dport 30053 -m nfacct --nfacct-name ipv4.dns")
    ns.udp("127.0.0.1", 30053, b"q" * 50, count=11)
    exp = exporter(CONFIG)
    prom = Prometheus(ns, tmp_path, f"127.0.0.1:{exp.port}", free_port())
    up = prom.wait_query('up{job="nfacct"} == 1')
    assert up
    kernel = kernel_counters(ns)
    assert kernel["ipv4.dns"] == (11, 11 * 78)
    result = prom.wait_query('nfacct_bytes_total{name="ipv4.dns",family="ipv4",app="dns"}')
    assert float(result[0]["value"][1]) == kernel["ipv4.dns"][1]
    result = prom.wait_query('nfacct_packets_total{name="odd \\"name\\"\\\\x"}')
    assert float(result[0]["value"][1]) == 0
    assert prom.query("nfacct_up")[0]["value"][1] == "1"
    # rate() over the exported counters works (they are real monotonic counters)
    assert prom.query('rate(nfacct_bytes_total{name="ipv4.dns"}[5s])') is not None
