"""The real daemon's /api/status in a test namespace with real traffic: its rates are the
kernel's counter deltas over the same poll interval.

Traffic comes in bursts of a known size, each sent right after the exporter published a poll
and read back from the kernel (``nfacct list``) before the next one, so the kernel's delta over
that interval is known exactly. Tolerance: 0.1 % (the JSON rounds rates to 1/1000 per second).
"""

import time
import urllib.parse

from tests.support.firewall import iptables_log, kernel_counters

PORT = 31815
PAYLOAD = b"s" * 100  # 128 bytes of IPv4 UDP each
INTERVAL = 1.5
CONFIG = f"""\
pollinterval: {INTERVAL}
labels:
  - match: '^(?P<family>ipv[46])\\.(?P<app>[^.]+)$'
nflog:
  - group: 7
    verdict: drop
"""
TOLERANCE = 1e-3


def status(exp, **query: str) -> dict:  # noqa: ANN001
    return exp.ns.get_json(exp.url + "/api/status?" + urllib.parse.urlencode(query))


def next_poll(exp, after: int, timeout: float = 10.0) -> tuple[dict, float]:  # noqa: ANN001
    """The first answer from a poll after ``after``, and when we saw it (monotonic)."""
    deadline = time.monotonic() + timeout
    while True:
        doc = status(exp, q="app=status")
        if doc["health"]["poll_seq"] > after:
            return doc, time.monotonic()
        assert time.monotonic() < deadline, f"no poll after {after}"
        time.sleep(0.01)


def close(got: float, want: float) -> bool:
    return abs(got - want) <= TOLERANCE * max(abs(want), 1.0)


def test_rates_are_the_kernel_deltas_of_the_same_interval(ns, exporter) -> None:  # noqa: ANN001
    ns.run("nfacct", "add", "ipv4.status")
    ns.run("iptables", "-A", "INPUT", "-p", "udp", "--dport", str(PORT), "-m", "nfacct",
           "--nfacct-name", "ipv4.status")
    iptables_log(ns, "iptables", "udp", PORT, 7, "status <drop>")
    exp = exporter(CONFIG)
    doc, _ = next_poll(exp, 0)
    checked = 0
    for burst in (40, 250, 0, 120):
        doc, seen = next_poll(exp, doc["health"]["poll_seq"])
        before = kernel_counters(ns)["ipv4.status"]
        ns.udp("127.0.0.1", PORT, PAYLOAD, count=burst)
        after = kernel_counters(ns)["ipv4.status"]
        if time.monotonic() - seen > INTERVAL / 2:  # a slow machine: the burst may straddle
            continue
        nxt, _ = next_poll(exp, doc["health"]["poll_seq"])
        dt = nxt["health"]["poll_time"] - doc["health"]["poll_time"]
        assert abs(dt - INTERVAL) < 0.5, dt
        item, = nxt["counters"]["items"]
        assert (item["name"], item["labels"]) == ("ipv4.status",
                                                  {"family": "ipv4", "app": "status"})
        assert (item["packets"], item["bytes"]) == after  # the kernel's values at that poll
        delta = (after[0] - before[0], after[1] - before[1])
        assert delta == (burst, burst * 128)
        assert close(item["packets_per_second"] * dt, delta[0]), (item, delta, dt)
        assert close(item["bytes_per_second"] * dt, delta[1]), (item, delta, dt)
        assert close(item["history"]["packets_per_second"][-1] * dt, delta[0])
        top, = nxt["nflog"]["top"]["drop"]
        assert (top["prefix"], top["group"]) == ("status <drop>", 7)
        assert close(top["packets_per_second"] * dt, burst), (top, burst, dt)
        doc = nxt
        checked += 1
    assert checked >= 2, "the machine was too slow to place bursts between polls"
    health = status(exp)["health"]
    assert health["nflog"]["lost"] == 0
    assert health["objects"] == 1
    assert all(s["ok"] for s in health["sources"])
