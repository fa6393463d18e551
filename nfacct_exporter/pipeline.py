"""Wiring: a Config → sources, the poller and the sinks, ready to start and stop as one.

Arrows go one way: sources → Snapshot (poller) → sinks. The HTTP server is not part of a
pipeline; it reads ``Pipeline.exposition`` and ``Pipeline.status`` of whichever pipeline is
current.
"""

import logging
from dataclasses import dataclass
from functools import partial

from nfacct_exporter import config, instrumentation, selection
from nfacct_exporter.config import namespaces
from nfacct_exporter.events.hub import EventHub
from nfacct_exporter.poller import Poller
from nfacct_exporter.sinks.carbon import CarbonSender
from nfacct_exporter.sinks.graphite import ConntrackLines, NfacctLines, NflogLines, NftLines
from nfacct_exporter.sinks.prometheus.conntrack import ConntrackRenderer
from nfacct_exporter.sinks.prometheus.exposition import PrometheusSink
from nfacct_exporter.sinks.prometheus.nfacct import NfacctRenderer
from nfacct_exporter.sinks.prometheus.nflog import NflogRenderer
from nfacct_exporter.sinks.prometheus.nft import NftRenderer
from nfacct_exporter.sinks.status import StatusSink
from nfacct_exporter.snapshot import Snapshot
from nfacct_exporter.sources import Source
from nfacct_exporter.sources.conntrack import ConntrackSource
from nfacct_exporter.sources.following import Reopening
from nfacct_exporter.sources.nfacct import NfacctSource
from nfacct_exporter.sources.nflog import NflogSource
from nfacct_exporter.sources.nft import NftSource

log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    cfg: config.Config
    poller: Poller
    prometheus: PrometheusSink
    carbon: CarbonSender | None
    status: StatusSink
    events: EventHub | None = None  # the writers of NFLOG packet events

    def exposition(self, gzipped: bool = False, openmetrics: bool = False) -> bytes:
        return self.prometheus.exposition(gzipped, openmetrics)

    def start(self) -> None:
        """First poll synchronously (so /metrics has data once we listen), then the threads."""
        if self.carbon is not None:
            self.carbon.start()
        if self.events is not None:
            self.events.start()
        self.poller.poll_once()
        self.poller.start()

    def stop(self, grace: float | None = None, successor: "Pipeline | None" = None) -> None:
        """Stop polling, then flush Graphite for ``grace`` s (default ``graphite.flush_grace``),
        or, on a reload, hand the undelivered lines to ``successor``'s sender instead."""
        self.poller.stop()
        if self.events is not None:  # the listeners are closed: nothing more is queued
            self.events.stop()
        if self.carbon is not None:
            if successor is not None and successor.carbon is not None:
                self.carbon.hand_over(successor.carbon)
                return
            g = self.cfg.graphite
            self.carbon.stop(grace if grace is not None else g.flush_grace if g else 0.0)

    def reopen_events(self) -> None:
        """SIGHUP: open the event files again (logrotate moved them) and reconnect sockets."""
        if self.events is not None:
            self.events.reopen()


def _sources(cfg: config.Config, events: EventHub | None) -> list[Source]:
    """One source per kernel interface and namespace. The primary namespace is opened here, so
    the kernel's refusal (no CAP_NET_ADMIN, a group already bound) stops the start-up; other
    namespaces are opened by their first poll and retried while missing."""
    sources: list[Source] = []
    for i, ns in enumerate(namespaces.plan(cfg.netns, cfg.namespaces)):
        here: list[Source] = [NfacctSource(ns.path, ns.label)]
        if cfg.nft_counters:
            here.append(NftSource(ns.path, ns.label))
        if cfg.conntrack:  # a kernel without conntrack is reported by its readings, not fatal
            here.append(ConntrackSource(ns.path, ns.label))
        if cfg.nflog:  # no nflog section: no NFLOG source, nothing bound
            if ns.path is None:  # our own namespace: never deleted or replaced
                here.append(NflogSource(cfg.nflog, ns.path, ns.label, events))
            else:
                here.append(Reopening("nflog", partial(NflogSource, cfg.nflog, ns.path, ns.label,
                                                       events), ns.path, ns.label))
        if i == 0:
            try:
                for source in here:
                    source.open()
            except OSError:
                for source in here:
                    source.close()
                raise
        sources += here
    return sources


def build(cfg: config.Config) -> Pipeline:
    """Open the sources (raising OSError if the kernel refuses) and connect the sinks."""
    events = EventHub() if any(g.events for g in cfg.nflog) else None
    sources = _sources(cfg, events)
    poller = Poller(sources, [], cfg.pollinterval)
    carbon = None
    publish = []
    if cfg.graphite is not None:
        g = cfg.graphite
        carbon = CarbonSender(g.host, g.port, g.timeout, g.backlog_memcap)
        nfacct_lines = NfacctLines(g, cfg.labels)
        lines = [nfacct_lines, NflogLines(g), NftLines(g)]
        if cfg.conntrack:
            lines.append(ConntrackLines(g, cfg.conntrack.per_cpu))
        exported = selection.snapshots(cfg.labels)  # label rules' drop/keep

        def send(snap: Snapshot) -> None:  # every source's lines: one chunk per poll
            snap = exported(snap)
            parts = nfacct_lines.parts(snap)  # NFACCT's blocks, sent as they are
            chunks = [part.chunk(snap) for part in lines[1:]]
            carbon.submit(parts + chunks, nfacct_lines.lines + sum(c.count(b"\n") for c in chunks))
        publish.append(send)
    prom = PrometheusSink({"nfacct": selection.renderer(cfg.labels,
                                                        NfacctRenderer(cfg.labels).render),
                           "nflog": NflogRenderer().render,
                           "nft": selection.renderer(cfg.labels, NftRenderer(cfg.labels).render),
                           "conntrack": ConntrackRenderer(
                               cfg.conntrack.per_cpu if cfg.conntrack else False).render})
    prom.registry = instrumentation.registry(poller, carbon, lambda: prom.snapshot)
    status = StatusSink(cfg.labels, cfg.pollinterval, carbon)
    poller.publish = [prom.publish, status.publish, *publish]
    return Pipeline(cfg, poller, prom, carbon, status, events)
