"""Test helpers around the exporter's polls: what each poll served, traffic, and the points
Graphite must hold for them."""

import threading
import time
import urllib.parse
from typing import Any

from tests.support.carbon import Carbon
from tests.support.netns import Netns
from tests.support.waiting import until


class PollRecorder:
    """Scrapes ``/metrics`` every ``period`` s on a thread and records every poll it sees:
    {poll timestamp: {name: (packets, bytes)}}, plus each scrape's duration."""

    def __init__(self, exporter: Any, period: float = 0.1) -> None:
        self.exporter = exporter
        self.period = period
        self.polls: dict[float, dict[str, tuple[float, float]]] = {}
        self.scrapes: list[tuple[float, float, dict]] = []  # (start wall time, seconds, samples)
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "PollRecorder":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        assert not self.errors, self.errors

    def _run(self) -> None:
        while not self._stop.is_set():
            t0, m0 = time.time(), time.monotonic()
            try:
                samples = self.exporter.samples()
            except BaseException as e:  # reported by __exit__
                self.errors.append(e)
                return
            self.scrapes.append((t0, time.monotonic() - m0, samples))
            self.record(samples)
            self._stop.wait(self.period)

    def record(self, samples: dict) -> None:
        ts = samples.get(("nfacct_exporter_last_poll_timestamp_seconds", frozenset()))
        if ts is None:
            return
        values: dict[str, list[float]] = {}
        for (metric, labels), v in samples.items():
            if metric in ("nfacct_packets_total", "nfacct_bytes_total"):
                name = dict(labels)["name"]
                values.setdefault(name, [0.0, 0.0])[metric == "nfacct_bytes_total"] = v
        self.polls[ts] = {k: (p, b) for k, (p, b) in values.items()}

    def gauge(self, samples: dict, metric: str) -> float | None:
        return samples.get((metric, frozenset()))


def expected_points(polls: dict[float, dict[str, tuple[float, float]]], name: str,
                    index: int) -> dict[int, float]:
    """{int(poll time): value} Graphite must hold: a later poll in the same second wins, so a
    second is expected only when the recorder also saw the poll right after its last one (gap
    under 1.5 poll intervals): a poll it missed could have overwritten the point. The last
    second is left out for the same reason."""
    times = sorted(t for t in polls if name in polls[t])
    gaps = [b - a for a, b in zip(times, times[1:], strict=False) if b > a]
    if not gaps:
        return {}
    interval = min(gaps)
    out = {}
    for ts, after in zip(times, times[1:], strict=False):
        if int(after) > int(ts) and after - ts < 1.5 * interval:  # ts: its second's last poll
            out[int(ts)] = polls[ts][name][index]
    return out


def missing(carbon: Carbon, metric: str, want: dict[int, float]) -> dict[int, tuple]:
    """{timestamp: (wanted, got)} for every wanted point Graphite does not hold exactly."""
    got = carbon.points(metric)
    return {t: (v, got.get(t)) for t, v in want.items() if got.get(t) != v}


def wait_delivered(carbon: Carbon, metric: str, want: dict[int, float],
                   timeout: float = 40.0) -> None:
    try:
        until(lambda: not missing(carbon, metric, want), timeout, metric, 0.3)
    except AssertionError:
        bad = missing(carbon, metric, want)
        raise AssertionError(f"{metric}: {len(bad)} of {len(want)} points missing or wrong, "
                             f"e.g. {sorted(bad.items())[:5]}") from None


class Traffic:
    """UDP datagrams to ``port`` in ``ns`` every ``period`` s on a thread (counters keep moving)."""

    def __init__(self, ns: Netns, port: int, period: float = 0.05, host: str = "127.0.0.1"):
        self.ns, self.port, self.period, self.host = ns, port, period, host
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Traffic":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.ns.udp(self.host, self.port, b"x" * 20)
            self._stop.wait(self.period)


def decode_path(path: str) -> str:
    """README's rule backwards: split on dots, unescape %XX, join with dots."""
    return ".".join(urllib.parse.unquote_to_bytes(p).decode("utf-8", "surrogateescape")
                    for p in path.split("."))
