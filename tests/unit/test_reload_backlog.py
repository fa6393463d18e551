"""A reload whose new pipeline cannot be opened beside the running one (an NFLOG group only one
socket may bind) stops the old pipeline's polling first. Its Graphite backlog, waiting for a
carbon that is away, must move to the pipeline that runs next, as in an ordinary reload: not be
flushed into the void for ``flush_grace`` seconds and then dropped."""

import errno
import socket
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from nfacct_exporter import config, pipeline
from nfacct_exporter.daemon import Daemon
from nfacct_exporter.poller import Poller
from nfacct_exporter.sinks.carbon import CarbonSender
from nfacct_exporter.sinks.prometheus.exposition import PrometheusSink
from nfacct_exporter.sinks.status import StatusSink
from nfacct_exporter.systemd import Notifier


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("new_refused", [1, 2])  # 2: the new one is refused, the old one rebuilt
def test_a_reload_that_stops_the_old_pipeline_first_keeps_its_graphite_backlog(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_refused: int) -> None:
    port = closed_port()  # carbon is away for the whole test
    path = tmp_path / "config.yaml"

    def write(interval: float) -> None:
        path.write_text(f"pollinterval: {interval}\n"
                        f"graphite: {{host: 127.0.0.1, port: {port}, flush_grace: 3}}\n")

    refusals = {"left": 0}
    built: list[pipeline.Pipeline] = []

    def build(cfg: config.Config) -> pipeline.Pipeline:
        if refusals["left"] and cfg.pollinterval == 0.3:
            refusals["left"] -= 1
            raise OSError(errno.EBUSY, "NFLOG group 41 is bound by another socket")
        g = cfg.graphite
        assert g is not None
        p = pipeline.Pipeline(cfg, Poller([], [], cfg.pollinterval),
                              PrometheusSink({}, CollectorRegistry()),
                              CarbonSender(g.host, g.port, g.timeout, g.backlog_memcap),
                              StatusSink(cfg.labels, cfg.pollinterval))
        built.append(p)
        return p

    monkeypatch.setattr(pipeline, "build", build)
    write(0.2)
    d = Daemon(config.load(str(path)), None, None, lambda e, c: str(e), Notifier({}))
    d.current = pipeline.build(d.cfg)
    d._start_pipeline(d.current)
    old = d.current
    assert old.carbon is not None
    for i in range(4):
        old.carbon.submit(f"p.x.pkts {i} {1000 + i}\n".encode())

    write(0.3)
    refusals["left"] = new_refused
    t0 = time.monotonic()
    assert d.reload()
    took = time.monotonic() - t0
    try:
        now = d.current
        assert now is not old and now.carbon is not None
        assert now.cfg.pollinterval == (0.3 if new_refused == 1 else 0.2)
        assert d.reload_state.successful == (new_refused == 1)
        assert old.carbon.lines_dropped == 0 and old.carbon.backlog_lines == 0
        assert now.carbon.backlog_lines == 4  # handed over, nothing lost
        assert took < 2, f"the reload waited {took:.1f}s for a carbon that is away"
    finally:
        for p in built:
            p.stop(grace=0)
