"""The real exporter → a real carbon-cache, in a test namespace: what whisper holds equals what the
kernel counted, every name is a valid distinct path, delta and tagged modes, carbon down at start.
"""

import re
import shutil
import time

import pytest

from tests.support.carbon import CARBON_CACHE, PREFIX, Carbon, graphite
from tests.support.firewall import counters, kernel_counters
from tests.support.polls import PollRecorder, Traffic, decode_path, expected_points, wait_delivered
from tests.support.waiting import until

pytestmark = pytest.mark.skipif(not shutil.which(CARBON_CACHE), reason="needs graphite-carbon")

HOSTILE = ['.lead "q"\t*', "web server", "web_server", "ünï.cödé", "a..b", "x%2Ey", "trail."]


def test_whisper_equals_kernel_and_names_stay_distinct(ns, carbon, exporter) -> None:  # noqa: ANN001
    rules = {"ipv4.http": 31080, "ipv6.http": 31080}
    rules.update({n: 31100 + i for i, n in enumerate(HOSTILE)})
    counters(ns, rules)
    exporter(graphite(carbon))
    for i in range(len(HOSTILE)):
        ns.udp("127.0.0.1", 31100 + i, b"h" * (10 + i), count=i + 1)
    ns.udp("127.0.0.1", 31080, b"4" * 30, count=7)
    ns.udp("::1", 31080, b"6" * 40, count=5)

    kernel = kernel_counters(ns)
    assert set(kernel) == set(rules) and kernel["ipv4.http"][0] == 7 and kernel["ipv6.http"][0] == 5
    for name, (pkts, nbytes) in kernel.items():
        path = f"{PREFIX}.{decode_safe(name)}"
        carbon.wait_value(f"{path}.pkts", pkts)
        carbon.wait_value(f"{path}.bytes", nbytes)
    until(lambda: len(carbon.metrics()) == 2 * len(kernel), what="a whisper file per series")
    # every name is one valid path, decodes back to itself, and no two names share one
    paths = {m.rsplit(".", 1)[0] for m in carbon.metrics() if m.startswith(PREFIX + ".")}
    names = {decode_path(p[len(PREFIX) + 1:]) for p in paths}
    assert names == set(kernel) and len(paths) == len(kernel)
    for p in paths:
        assert re.fullmatch(r"[A-Za-z0-9_%.-]+", p), p
    assert carbon.problems() == []


def decode_safe(name: str) -> str:
    """The README's escaping rule, written out independently of the exporter's code."""
    def part(s: str) -> str:
        return "".join(chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "_-")
                       else f"%{b:02X}" for b in s.encode())
    parts = name.split(".")
    out = part(parts[0])
    for prev, cur in zip(parts, parts[1:], strict=False):
        out += ("." if prev and cur else "%2E") + part(cur)
    return out


def test_delta_mode_sums_to_kernel_across_a_reset(ns, carbon, exporter) -> None:  # noqa: ANN001
    counters(ns, {"ipv4.dns": 31053})
    exp = exporter(graphite(carbon, "  mode: delta\n", pollinterval=1))
    metric = f"{PREFIX}.ipv4.dns.pkts"
    with PollRecorder(exp) as rec:
        for burst in (3, 5, 2):
            ns.udp("127.0.0.1", 31053, b"d" * 10, count=burst)
            time.sleep(1.3)
        reset = ns.run("nfacct", "get", "ipv4.dns", "reset").stdout  # value before zeroing
        before = int(re.search(r"pkts = (\d+)", reset).group(1))
        time.sleep(1.2)
        ns.udp("127.0.0.1", 31053, b"d" * 10, count=4)
        final = until(lambda: (k := kernel_counters(ns)["ipv4.dns"][0]) == 4 and k, what="kernel")
        until(lambda: any(p.get("ipv4.dns", (0,))[0] == 4 for p in rec.polls.values()),
              what="a poll seeing the last burst")
        time.sleep(2.5)  # a few idle polls: deltas 0
    assert before == 10
    first, last = int(min(rec.polls)), int(max(rec.polls))
    def window() -> dict[int, float]:
        return {t: v for t, v in carbon.points(metric).items() if first <= t <= last}

    try:
        pts = until(lambda: (p := window()) and sum(p.values()) == before + final
                    and last in p and p, 20, interval=0.3)
    except AssertionError:
        raise AssertionError(f"deltas {sorted(window().items())} != {before}+{final}") from None
    assert all(v >= 0 for v in pts.values()) and max(pts.values()) <= 5, pts
    assert pts[last] == 0  # idle at the end
    assert carbon.problems() == []


def test_tagged_series_carry_mapped_labels(ns, carbon, exporter) -> None:  # noqa: ANN001
    counters(ns, {"ipv4.http": 31080, "ipv6.~x;y=z": 31081})
    extra = ("  tags: true\n  prefix: 'servers.{hostname}.nfacct'\n"
             "labels:\n  - match: '^(?P<family>ipv[46])\\.(?P<app>.+)$'\n")
    exporter(graphite(carbon, extra))
    ns.udp("127.0.0.1", 31080, b"t" * 10, count=3)
    ns.udp("::1", 31081, b"t" * 10, count=2)
    host = ns.run("hostname").stdout.strip().split(".")[0]
    kernel = kernel_counters(ns)
    v4 = f"servers.{host}.nfacct.ipv4.http.pkts;app=http;family=ipv4"
    v6 = f"servers.{host}.nfacct.ipv6.%7Ex%3By%3Dz.bytes;app=%7Ex%3By%3Dz;family=ipv6"
    carbon.wait_value(v4, kernel["ipv4.http"][0])
    carbon.wait_value(v6, kernel["ipv6.~x;y=z"][1])
    until(lambda: carbon.path(v4).exists() and carbon.path(v6).exists(), what="whisper files")
    assert carbon.problems() == []


def test_starts_with_carbon_down_and_delivers_later(ns, exporter, tmp_path) -> None:  # noqa: ANN001
    carbon = Carbon(ns, tmp_path)  # not started
    counters(ns, {"ipv4.ntp": 31123})
    exp = exporter(graphite(carbon))
    with Traffic(ns, 31123), PollRecorder(exp) as rec:
        until(lambda: (exp.samples().get(("nfacct_exporter_graphite_connect_failures_total",
                                          frozenset())) or 0) >= 2, what="connect failures")
        s = exp.samples()
        assert s[("nfacct_up", frozenset())] == 1
        assert s[("nfacct_exporter_graphite_connected", frozenset())] == 0
        assert s[("nfacct_exporter_graphite_backlog_lines", frozenset())] > 0
        time.sleep(3)
        started = time.time()
        carbon.start()
        until(lambda: exp.samples()[("nfacct_exporter_graphite_connected", frozenset())] == 1,
              timeout=20, what="reconnect")
        time.sleep(2)
    want = expected_points(rec.polls, "ipv4.ntp", 0)
    assert sum(t < started for t in want) >= 3, "polls from before carbon was up"
    wait_delivered(carbon, f"{PREFIX}.ipv4.ntp.pkts", want)
    assert carbon.problems() == []
