"""Carbon restarted, black-holed, down through SIGTERM, or down long enough to hit the memcap: the
real exporter keeps polling and serving, and every poll it kept reaches whisper, in order, with its
own timestamp. ulogd2's GRAPHITE output loses or stalls in each of these cases."""

import random
import shutil
import signal
import time

import pytest

from tests.support.carbon import CARBON_CACHE, PREFIX, Carbon, graphite
from tests.support.firewall import counters, kernel_counters
from tests.support.polls import PollRecorder, Traffic, expected_points, wait_delivered
from tests.support.waiting import until

pytestmark = pytest.mark.skipif(not shutil.which(CARBON_CACHE), reason="needs graphite-carbon")


def gauge(exp, metric: str) -> float:  # noqa: ANN001
    return exp.samples().get((metric, frozenset()), 0.0)


def final_value_equals_kernel(ns, carbon, name: str) -> None:  # noqa: ANN001
    pkts, nbytes = kernel_counters(ns)[name]
    carbon.wait_value(f"{PREFIX}.{name}.pkts", pkts, timeout=30)
    carbon.wait_value(f"{PREFIX}.{name}.bytes", nbytes, timeout=30)


def test_carbon_restart_loses_no_poll(ns, carbon, exporter) -> None:  # noqa: ANN001
    counters(ns, {"ipv4.app": 31200})
    exp = exporter(graphite(carbon, pollinterval=1))
    with Traffic(ns, 31200), PollRecorder(exp) as rec:
        time.sleep(3)
        carbon.stop()  # SIGTERM, ~2 s to flush and exit
        down = time.time()
        time.sleep(6)
        assert gauge(exp, "nfacct_exporter_graphite_backlog_lines") > 0
        carbon.start()
        up = time.time()
        until(lambda: gauge(exp, "nfacct_exporter_graphite_connected") == 1, 30, "reconnect")
        time.sleep(2)
    assert sum(down < t < up for t in rec.polls) >= 5, "several polls while carbon was down"
    for index, suffix in ((0, "pkts"), (1, "bytes")):
        want = expected_points(rec.polls, "ipv4.app", index)
        wait_delivered(carbon, f"{PREFIX}.ipv4.app.{suffix}", want)
    final_value_equals_kernel(ns, carbon, "ipv4.app")
    assert carbon.problems() == []


def test_black_holed_carbon_stalls_nothing_and_loses_nothing(ns, carbon, exporter) -> None:  # noqa: ANN001
    counters(ns, {"ipv4.bh": 31300})
    exp = exporter(graphite(carbon, pollinterval=0.5))
    drop = f"INPUT -p tcp --dport {carbon.port} -j DROP"
    with Traffic(ns, 31300), PollRecorder(exp) as rec:
        time.sleep(2)
        ns.sh(f"iptables -I {drop}")
        start = time.time()
        time.sleep(12)
        end = time.time()
        ns.sh(f"iptables -D {drop}")
        until(lambda: gauge(exp, "nfacct_exporter_graphite_backlog_lines") == 0
              and gauge(exp, "nfacct_exporter_graphite_connected") == 1, 40, "drain")
    during = [(t, d, s) for t, d, s in rec.scrapes if start + 1 < t < end]
    assert len(during) > 30
    # (ulogd2 stalled ~27 s here; thresholds leave room for a loaded 2-core CI machine)
    assert max(d for _, d, _ in during) < 1.0, "a scrape waited"
    for t, _, s in during:  # the served poll is never older than ~one interval
        assert t - s[("nfacct_exporter_last_poll_timestamp_seconds", frozenset())] < 1.5
    assert max(s.get(("nfacct_exporter_graphite_backlog_lines", frozenset()), 0)
               for _, _, s in during) > 0, "the black hole held lines back"
    assert sum(start < t < end for t in rec.polls) >= 20
    for index, suffix in ((0, "pkts"), (1, "bytes")):
        wait_delivered(carbon, f"{PREFIX}.ipv4.bh.{suffix}", expected_points(rec.polls, "ipv4.bh",
                                                                             index))
    final_value_equals_kernel(ns, carbon, "ipv4.bh")
    assert carbon.problems() == []


def test_memcap_bounds_the_backlog_and_counts_drops(ns, exporter, tmp_path) -> None:  # noqa: ANN001
    n, memcap = 1000, 200_000  # a poll: ~90 kB of lines, ~21 kB compressed
    rng = random.Random(4)
    ns.run("nfacct", "restore", input="".join(
        f"{{ pkts = {rng.randrange(10**9)}, bytes = {rng.randrange(10**12)} }} = obj{i:04d};\n"
        for i in range(n)))
    carbon = Carbon(ns, tmp_path)  # down for the whole outage
    exp = exporter(graphite(carbon, f"  backlog_memcap: {memcap}\n", pollinterval=0.1))
    with PollRecorder(exp, period=0.2) as rec:
        time.sleep(4)
        rss0 = gauge(exp, "process_resident_memory_bytes")
        time.sleep(16)  # ~160 polls of ~90 kB of lines each: ~14 MB without the cap
        rss1 = gauge(exp, "process_resident_memory_bytes")
        s = exp.samples()
    held = [sc.get(("nfacct_exporter_graphite_backlog_bytes", frozenset()), 0)
            + sc.get(("nfacct_exporter_graphite_inflight_bytes", frozenset()), 0)
            for _, _, sc in rec.scrapes]
    assert 0 < max(held) <= memcap
    assert rss1 - rss0 < 8 << 20, (rss0, rss1)
    dropped = s[("nfacct_exporter_graphite_lines_dropped_total", frozenset())]
    kept = s[("nfacct_exporter_graphite_backlog_lines", frozenset())]
    assert dropped > 100 * 2 * n and kept > 0
    assert (dropped + kept) % (2 * n) == 0, "whole polls are dropped"
    first_poll = min(rec.polls)
    carbon.start()
    until(lambda: gauge(exp, "nfacct_exporter_graphite_lines_sent_total") >= kept, 30, "delivery")
    pts = until(lambda: carbon.points(f"{PREFIX}.obj0007.pkts"), what="points")
    assert min(pts) > first_poll + 10, "the oldest polls were the ones dropped"
    assert carbon.problems() == []


def test_sigterm_flushes_the_backlog_within_grace(ns, exporter, tmp_path) -> None:  # noqa: ANN001
    counters(ns, {"ipv4.term": 31400})
    carbon = Carbon(ns, tmp_path)
    exp = exporter(graphite(carbon, "  flush_grace: 10\n", pollinterval=0.5))
    with Traffic(ns, 31400), PollRecorder(exp) as rec:
        time.sleep(9)  # reconnect backoff has grown to several seconds
    final = kernel_counters(ns)["ipv4.term"][0]
    until(lambda: exp.samples().get(("nfacct_packets_total", frozenset({("name", "ipv4.term")})))
          == final, 10, "a poll after the last packet")  # so the last point is the final value
    assert gauge(exp, "nfacct_exporter_graphite_backlog_lines") > 0
    carbon.start()
    t0 = time.monotonic()
    exp.proc.send_signal(signal.SIGTERM)
    assert exp.proc.wait(15) == 0
    assert time.monotonic() - t0 < 5, "flushed at once, not after the backoff"
    assert "not delivered" not in exp.log.read_text()
    for index, suffix in ((0, "pkts"), (1, "bytes")):
        wait_delivered(carbon, f"{PREFIX}.ipv4.term.{suffix}",
                       expected_points(rec.polls, "ipv4.term", index))
    final_value_equals_kernel(ns, carbon, "ipv4.term")


def test_sigterm_with_carbon_away_exits_after_grace(ns, exporter, tmp_path) -> None:  # noqa: ANN001
    carbon = Carbon(ns, tmp_path)
    ns.run("nfacct", "add", "ipv4.gone")
    exp = exporter(graphite(carbon, "  flush_grace: 2\n", pollinterval=0.5))
    time.sleep(1.5)
    t0 = time.monotonic()
    exp.proc.send_signal(signal.SIGTERM)
    assert exp.proc.wait(15) == 0
    assert 1.5 < time.monotonic() - t0 < 4.5
    assert "lines not delivered" in exp.log.read_text()


def test_reload_during_an_outage_keeps_the_backlog(ns, exporter, tmp_path) -> None:  # noqa: ANN001
    counters(ns, {"ipv4.hup": 31500})
    carbon = Carbon(ns, tmp_path)
    exp = exporter(graphite(carbon, pollinterval=0.5))
    with Traffic(ns, 31500), PollRecorder(exp) as rec:
        time.sleep(3)
        exp.config.write_text(graphite(carbon, pollinterval=0.4))  # a change: new pipeline
        hup = time.time()
        exp.proc.send_signal(signal.SIGHUP)
        until(lambda: exp.samples().get(("nfacct_exporter_config_last_reload_success_timestamp_"
                                         "seconds", frozenset()), 0) > hup, what="reload")
        time.sleep(1)
        carbon.start()
        until(lambda: gauge(exp, "nfacct_exporter_graphite_connected") == 1, 30, "reconnect")
        time.sleep(1)
    assert "handed to the reloaded pipeline" in exp.log.read_text()
    for index, suffix in ((0, "pkts"), (1, "bytes")):
        wait_delivered(carbon, f"{PREFIX}.ipv4.hup.{suffix}",
                       expected_points(rec.polls, "ipv4.hup", index))
