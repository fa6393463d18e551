"""The exporter's own metrics, in one prometheus_client registry, collected fresh per scrape.

Poll health, Graphite delivery, NFLOG receive counts, the configuration reload gauges, build
info and process metrics: each read at scrape time from the object holding the state (the
poller, the carbon sender, the snapshot being served, the daemon's ``ReloadState``). The counter
families themselves are rendered by hand in ``sinks.prometheus``; this registry follows them in
the exposition. Sample::

    # HELP nfacct_up Whether the last NFACCT poll succeeded (1) or failed (0).
    # TYPE nfacct_up gauge
    nfacct_up 1.0
    # HELP nfacct_exporter_poll_duration_seconds Duration of the last poll of all sources.
    # TYPE nfacct_exporter_poll_duration_seconds gauge
    nfacct_exporter_poll_duration_seconds 0.0123
    # HELP nfacct_exporter_config_last_reload_successful Whether the last configuration (...)
    # TYPE nfacct_exporter_config_last_reload_successful gauge
    nfacct_exporter_config_last_reload_successful 1.0
"""

import platform
import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Info, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from nfacct_exporter import __version__, version
from nfacct_exporter.poller import Poller
from nfacct_exporter.sinks.carbon import CarbonSender
from nfacct_exporter.snapshot import Reading, Snapshot


class ReloadState:
    """``nfacct_exporter_config_last_reload_*``, named after Prometheus' own reload gauges.

    Owned by the daemon, which outlives pipelines; each pipeline's registry collects it.
    """

    def __init__(self) -> None:
        self.successful = True
        self.success_time = time.time()  # the start-up load counts as the first success

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "nfacct_exporter_config_last_reload_successful",
            "Whether the last configuration reload (SIGHUP) succeeded (1) or failed (0).",
            value=1 if self.successful else 0)
        yield GaugeMetricFamily(
            "nfacct_exporter_config_last_reload_success_timestamp_seconds",
            "When the configuration in force was loaded (start-up or last good reload).",
            value=self.success_time)


class ExporterCollector:
    """Poll health, NFLOG receive counts and Graphite delivery, read from the poller, the
    snapshot being served and the sender."""

    def __init__(self, poller: Poller, carbon: CarbonSender | None = None,
                 snapshot: Callable[[], Snapshot | None] | None = None) -> None:
        self.poller = poller
        self.carbon = carbon
        # the snapshot whose counters the scrape serves, so both come from the same poll
        self.snapshot = snapshot or (lambda: poller.last)

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot()
        nfacct = snap.all("nfacct") if snap else []
        multi = any(r.netns is not None for r in snap.readings.values()) if snap else False
        ns = ["netns"] if multi else []
        up = GaugeMetricFamily(
            "nfacct_up", "Whether the last NFACCT poll succeeded (1) or failed (0).", labels=ns)
        objects = GaugeMetricFamily(
            "nfacct_exporter_objects", "NFACCT objects read at the last poll.", labels=ns)
        for r in nfacct or [None]:
            labels = [r.netns] if multi and r is not None else []
            up.add_metric(labels, 1 if r is not None and r.ok else 0)
            objects.add_metric(labels, len(r.records) if r is not None and r.ok else 0)
        yield up
        yield objects
        if snap is not None:
            yield GaugeMetricFamily(
                "nfacct_exporter_poll_duration_seconds",
                "Duration of the last poll of all sources.", value=snap.duration)
            yield GaugeMetricFamily(
                "nfacct_exporter_last_poll_timestamp_seconds",
                "Wall-clock time of the last poll (the counters' and Graphite points' time).",
                value=snap.time)
            success = GaugeMetricFamily(
                "nfacct_exporter_source_success",
                "Whether the source's last read succeeded (1) or failed (0).",
                labels=["source", *ns])
            for r in snap.readings.values():
                success.add_metric([r.source, r.netns or ""][:1 + bool(ns)], 1 if r.ok else 0)
            yield success
            yield from _nflog([r for r in snap.all("nflog") if r.ok])
            yield from _quota_events_errors(nfacct)
            yield from _conntrack_up(snap.all("conntrack"))
        errors = CounterMetricFamily(
            "nfacct_exporter_poll_errors", "Polls of a source that failed.",
            labels=["source", *ns])
        for (source, netns), n in self.poller.errors.items():
            errors.add_metric([source, netns or ""][:1 + bool(ns)], n)
        yield errors
        if self.carbon is not None:
            yield from self._graphite()

    def _graphite(self) -> Iterator[Metric]:
        c = self.carbon
        assert c is not None
        yield GaugeMetricFamily("nfacct_exporter_graphite_connected",
                                "Whether the carbon connection is open (1) or not (0).",
                                value=1 if c.connected else 0)
        yield CounterMetricFamily("nfacct_exporter_graphite_lines_sent",
                                  "Lines written to carbon.", value=c.lines_sent)
        yield CounterMetricFamily("nfacct_exporter_graphite_lines_dropped",
                                  "Lines dropped because the backlog exceeded backlog_memcap.",
                                  value=c.lines_dropped)
        yield CounterMetricFamily("nfacct_exporter_graphite_connect_failures",
                                  "Failed attempts to connect to carbon.",
                                  value=c.connect_failures)
        yield CounterMetricFamily("nfacct_exporter_graphite_send_failures",
                                  "Writes to carbon that failed (the lines stay queued).",
                                  value=c.send_failures)
        yield GaugeMetricFamily("nfacct_exporter_graphite_backlog_lines",
                                "Lines waiting to be sent to carbon.", value=c.backlog_lines)
        yield GaugeMetricFamily("nfacct_exporter_graphite_backlog_bytes",
                                "Bytes held for lines waiting to be sent (compressed while carbon "
                                "is away).", value=c.backlog_bytes)
        yield GaugeMetricFamily("nfacct_exporter_graphite_inflight_lines",
                                "Lines written to carbon, kept until acknowledged (re-sent if the "
                                "connection drops).", value=c.inflight_lines)
        yield GaugeMetricFamily("nfacct_exporter_graphite_inflight_bytes",
                                "Bytes held for in-flight lines.", value=c.inflight_bytes)
        yield GaugeMetricFamily("nfacct_exporter_graphite_backlog_memcap_bytes",
                                "graphite.backlog_memcap: bound of backlog plus in-flight bytes.",
                                value=c.memcap)
        oldest = c.backlog.oldest()
        yield GaugeMetricFamily("nfacct_exporter_graphite_oldest_undelivered_timestamp_seconds",
                                "When the oldest poll not yet delivered to carbon was queued (0: "
                                "none).", value=oldest or 0)


def _nflog(readings: list[Reading]) -> Iterator[Metric]:
    """The NFLOG listeners' receive counts, one series per namespace (none without NFLOG)."""
    if not readings:
        return
    ns = ["netns"] if readings[0].netns is not None else []
    datagrams = CounterMetricFamily(
        "nfacct_exporter_nflog_datagrams",
        "NFLOG netlink datagrams received (each holds a batch of packets).", labels=ns)
    errors = CounterMetricFamily(
        "nfacct_exporter_nflog_receive_errors",
        "Failed NFLOG socket receives (the listener goes on; losses show as gaps).", labels=ns)
    for r in readings:
        labels = [r.netns or ""] if ns else []
        datagrams.add_metric(labels, r.extra.get("datagrams", 0))
        errors.add_metric(labels, r.extra.get("receive_errors", 0))
    yield datagrams
    yield errors


def _quota_events_errors(readings: list[Reading]) -> Iterator[Metric]:
    """Failures of the over-quota announcements' socket, once there were some."""
    failed = [r for r in readings if r.extra.get("over_quota_events_errors")]
    if not failed:
        return
    ns = ["netns"] if failed[0].netns is not None else []
    errors = CounterMetricFamily(
        "nfacct_exporter_quota_events_errors",
        "Failures of the over-quota announcements' socket (some were lost).", labels=ns)
    for r in failed:
        errors.add_metric([r.netns or ""] if ns else [], r.extra["over_quota_events_errors"])
    yield errors


def _conntrack_up(readings: list[Reading]) -> Iterator[Metric]:
    """``nf_conntrack_up`` per namespace read (none without ``conntrack:``): 0 while the
    statistics cannot be read, e.g. a kernel without conntrack."""
    if not readings:
        return
    ns = ["netns"] if readings[0].netns is not None else []
    up = GaugeMetricFamily(
        "nf_conntrack_up", "Whether the last read of the conntrack statistics succeeded (1) or "
        "failed (0: no conntrack in the kernel, namespace gone).", labels=ns)
    for r in readings:
        up.add_metric([r.netns or ""] if ns else [], 1 if r.ok else 0)
    yield up


# --- malformed netlink messages skipped by the dump decoders --------------------------------------

class DecodeErrors:
    """``nfacct_exporter_decode_errors_total{source}``: malformed messages the NFACCT and nft dump
    decoders skipped (``Reading.extra["decode_errors"]``, counted per source since it was made),
    summed over namespaces. A namespace's last count is kept while its reads fail, so the total
    never goes down."""

    def __init__(self, snapshot: Callable[[], Snapshot | None]) -> None:
        self.snapshot = snapshot
        self._counts: dict[tuple[str, str | None], int] = {}
        self._lock = threading.Lock()  # scrapes are served by several threads

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot()
        totals: dict[str, int] = {}
        with self._lock:
            for r in snap.readings.values() if snap else ():
                if "decode_errors" in r.extra:
                    key = (r.source, r.netns)
                    self._counts[key] = max(self._counts.get(key, 0), r.extra["decode_errors"])
            for (source, _netns), n in self._counts.items():
                totals[source] = totals.get(source, 0) + n
        family = CounterMetricFamily(
            "nfacct_exporter_decode_errors",
            "Malformed netlink messages the dump decoders skipped.", labels=["source"])
        for source, n in sorted(totals.items()):
            family.add_metric([source], n)
        yield family


def registry(poller: Poller, carbon: CarbonSender | None,
             snapshot: Callable[[], Snapshot | None] | None = None) -> CollectorRegistry:
    """A private registry: our collector, build info and the process metrics.

    The daemon registers its ``ReloadState`` here too, before the pipeline is served.
    """
    reg = CollectorRegistry()
    reg.register(ExporterCollector(poller, carbon, snapshot))
    reg.register(DecodeErrors(snapshot or (lambda: poller.last)))
    Info("nfacct_exporter_build", "Version of nfacct-exporter and of Python running it.",
         registry=reg).info({"version": __version__, "revision": version.info()["revision"],
                                 "python": platform.python_version()})
    ProcessCollector(registry=reg)
    return reg
