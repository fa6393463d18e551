"""Wiring: a Config → sources, the poller and the sinks, ready to start and stop as one.

Arrows go one way: sources → Snapshot (poller) → sinks. The HTTP server is not part of a
pipeline; it reads ``Pipeline.exposition`` of whichever pipeline is current.
"""

import logging
from dataclasses import dataclass

from nfacct_exporter import config
from nfacct_exporter.poller import Poller
from nfacct_exporter.sinks import self_metrics
from nfacct_exporter.sinks.carbon import CarbonSender
from nfacct_exporter.sinks.graphite import NfacctLines, NflogLines
from nfacct_exporter.sinks.prometheus import NfacctRenderer, NflogRenderer, PrometheusSink
from nfacct_exporter.sources import Source
from nfacct_exporter.sources.nfacct import NfacctSource
from nfacct_exporter.sources.nflog import NflogSource

log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    cfg: config.Config
    poller: Poller
    prometheus: PrometheusSink
    carbon: CarbonSender | None

    def exposition(self, gzipped: bool = False) -> bytes:
        return self.prometheus.exposition(gzipped)

    def start(self) -> None:
        """First poll synchronously (so /metrics has data once we listen), then the threads."""
        if self.carbon is not None:
            self.carbon.start()
        self.poller.poll_once()
        self.poller.start()

    def stop(self, grace: float | None = None, successor: "Pipeline | None" = None) -> None:
        """Stop polling, then flush Graphite for ``grace`` s (default ``graphite.flush_grace``),
        or, on a reload, hand the undelivered lines to ``successor``'s sender instead."""
        self.poller.stop()
        if self.carbon is not None:
            if successor is not None and successor.carbon is not None:
                self.carbon.hand_over(successor.carbon)
                return
            g = self.cfg.graphite
            self.carbon.stop(grace if grace is not None else g.flush_grace if g else 0.0)


def build(cfg: config.Config) -> Pipeline:
    """Open the sources (raising OSError if the kernel refuses) and connect the sinks."""
    nfacct = NfacctSource(cfg.netns)
    nfacct.open()
    sources: list[Source] = [nfacct]
    if cfg.nflog:  # no nflog section: no NFLOG source, nothing bound
        nflog = NflogSource(cfg.nflog, cfg.netns)
        try:
            nflog.open()  # BindError: one line naming the group (e.g. ulogd holds it)
        except OSError:
            nfacct.close()
            raise
        sources.append(nflog)

    poller = Poller(sources, [], cfg.pollinterval)
    carbon = None
    publish = []
    if cfg.graphite is not None:
        g = cfg.graphite
        carbon = CarbonSender(g.host, g.port, g.timeout, g.backlog_memcap)
        nfacct_lines = NfacctLines(g, cfg.labels)
        nflog_lines = NflogLines(g)
        publish.append(lambda snap: carbon.submit(  # both sources' lines: one chunk per poll
            nfacct_lines.chunk(snap) + nflog_lines.chunk(snap)))
    prom = PrometheusSink({"nfacct": NfacctRenderer(cfg.labels).render,
                           "nflog": NflogRenderer().render},
                          self_metrics.registry(poller, carbon))
    poller.publish = [prom.publish, *publish]
    return Pipeline(cfg, poller, prom, carbon)
