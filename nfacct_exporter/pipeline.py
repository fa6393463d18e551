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
from nfacct_exporter.sinks.graphite import NfacctLines
from nfacct_exporter.sinks.prometheus import NfacctRenderer, PrometheusSink
from nfacct_exporter.sources.nfacct import NfacctSource

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

    def stop(self, grace: float = 5.0) -> None:
        self.poller.stop()
        if self.carbon is not None:
            self.carbon.stop(grace)


def build(cfg: config.Config) -> Pipeline:
    """Open the sources (raising OSError if the kernel refuses) and connect the sinks."""
    nfacct = NfacctSource(cfg.netns)
    nfacct.open()
    sources = [nfacct]

    poller = Poller(sources, [], cfg.pollinterval)
    carbon = None
    publish = []
    if cfg.graphite is not None:
        g = cfg.graphite
        carbon = CarbonSender(g.host, g.port, g.timeout, g.backlog_memcap)
        nfacct_lines = NfacctLines(g, cfg.labels)
        publish.append(lambda snap: carbon.submit("".join(nfacct_lines.lines(snap)).encode()))
    prom = PrometheusSink({"nfacct": NfacctRenderer(cfg.labels).render},
                          self_metrics.registry(poller, carbon))
    poller.publish = [prom.publish, *publish]
    return Pipeline(cfg, poller, prom, carbon)
