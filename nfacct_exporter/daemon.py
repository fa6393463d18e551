"""The running daemon: start-up, the systemd notify protocol, SIGHUP reloads, shutdown.

The HTTP server outlives pipelines: it calls ``Daemon.exposition``, which reads whichever
pipeline is current, so scrapes are served throughout a reload. A reload validates everything
(config, web config, a new listen address) before touching the running pipeline, and a pipeline
is only replaced by one that started; the reload gauges (``ReloadState``, collected by each
pipeline's own-metrics registry) say how the last attempt went.
"""

import logging
import signal
import socket
import time
from collections.abc import Callable

from nfacct_exporter import config, pipeline
from nfacct_exporter.config import web as webconfig
from nfacct_exporter.instrumentation import ReloadState
from nfacct_exporter.sinks.status import StatusSink
from nfacct_exporter.systemd import Notifier
from nfacct_exporter.web import app, status_page
from nfacct_exporter.web.server import MetricsServer
from nfacct_exporter.web.tls import WebConfigSource

log = logging.getLogger("nfacct_exporter")
SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


class StartupFailed(Exception):
    """One line: why the daemon cannot start (exit code 1)."""


class ReloadFailed(Exception):
    """One line: why the new configuration was not applied."""


class Daemon:
    def __init__(self, cfg: config.Config, listen_override: str | tuple[str, ...] | None,
                 web: WebConfigSource | None,
                 problem: Callable[[OSError, config.Config], str],
                 notifier: Notifier | None = None, telemetry_path: str = "/metrics",
                 sockets: list[socket.socket] | None = None, max_requests: int = 40) -> None:
        self.cfg = cfg
        if isinstance(listen_override, str):
            listen_override = (listen_override,)
        # --web.listen-address (repeatable) wins over the config; systemd's sockets over both
        self.listen_override = listen_override or None
        self.listen = self.listen_override or (cfg.listen,)
        self.sockets = sockets or []
        self.telemetry_path = telemetry_path
        self.web = web
        self.problem = problem  # OSError from the kernel → one line for the operator
        self.notifier = notifier or Notifier()
        self.reload_state = ReloadState()
        self.current: pipeline.Pipeline | None = None
        self.servers: list[MetricsServer] = []
        self.max_requests = max_requests  # --web.max-requests (0: no limit)

    def exposition(self, gzipped: bool, openmetrics: bool = False) -> tuple[bytes, ...]:
        """The current pipeline's exposition (its own metrics include the reload gauges), as
        parts for the server to send in turn."""
        assert self.current is not None
        return self.current.prometheus.parts(gzipped, openmetrics)

    # --- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Open the sources, listen, first poll, then READY=1; raise StartupFailed.

        SIGTERM, SIGINT and SIGHUP are blocked first, so every thread started later inherits
        the block and ``serve`` takes them with ``sigwait``: Python handlers only run on the main
        thread, and one delivered while it sleeps in a lock wait could be seen late or never.
        A SIGHUP during start-up waits for ``serve`` instead of killing us (its default action).
        """
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            self.current = pipeline.build(self.cfg)
        except OSError as e:
            raise StartupFailed(self.problem(e, self.cfg)) from None
        try:
            self.servers = self._listen(self.listen)
        except ReloadFailed as e:
            self.current.stop(grace=0)
            raise StartupFailed(str(e)) from None
        self._start_pipeline(self.current)
        for server in self.servers:
            server.start()
        log.info("listening on %s%s, polling every %gs%s", self._where(),
                 " (TLS)" if self.web and self.web.config.tls else "", self.cfg.pollinterval,
                 f", graphite {self.cfg.graphite.host}:{self.cfg.graphite.port}"
                 if self.cfg.graphite else "")
        self.notifier.ready(self._status())

    def serve(self) -> int:
        """Until SIGTERM/SIGINT, reloading on SIGHUP; returns the process exit code."""
        assert self.servers and self.current is not None
        code = 0
        while signal.sigwait(SIGNALS) == signal.SIGHUP:
            if not self.reload():
                code = 1  # no pipeline could be started (already stopped): let systemd restart us
                break
        log.info("shutting down")
        self.notifier.stopping()
        self._close(self.servers)
        if code == 0:
            self.current.stop()
        self.notifier.close()
        return code

    def _listen(self, listen: tuple[str, ...]) -> list[MetricsServer]:
        """One server per address, or per socket systemd passed; all or none."""
        routes = app.default(self.exposition,
                             status_page.routes(self._status_sink, self.telemetry_path),
                             self.telemetry_path)
        if self.sockets:
            return [MetricsServer("", 0, routes, self.web, self.max_requests, listener=s)
                    for s in self.sockets]
        servers: list[MetricsServer] = []
        for address in listen:
            host, port = config.parse_listen(address)
            try:
                servers.append(MetricsServer(host, port, routes, self.web, self.max_requests))
            except OSError as e:
                for s in servers:
                    s.server_close()
                raise ReloadFailed(f"cannot listen on {address}: {e.strerror or e}") from None
        return servers

    @staticmethod
    def _close(servers: list[MetricsServer]) -> None:
        for s in servers:
            s.shutdown()
            s.server_close()

    def _where(self) -> str:
        if self.sockets:
            return "the systemd socket" + ("s" if len(self.sockets) > 1 else "")
        return ", ".join(self.listen)

    def _status_sink(self) -> StatusSink:
        assert self.current is not None
        return self.current.status

    def _reload_status(self) -> dict[str, object]:
        return {"successful": self.reload_state.successful,
                "timestamp": self.reload_state.success_time}

    def _start_pipeline(self, p: pipeline.Pipeline) -> None:
        """Before ``p`` is served: the reload gauges join its own metrics and status, its status
        page keeps the running pipeline's recent history, and its poll loop sends the watchdog
        pings (so the watchdog timeout must fit the poll interval)."""
        p.prometheus.registry.register(self.reload_state)
        p.status.reload = self._reload_status
        if self.current is not None and self.current is not p:
            p.status.adopt(self.current.status)
        p.poller.heartbeat = self.notifier.watchdog
        self.notifier.fit_watchdog(int((2 * p.cfg.pollinterval + 10) * 1e6))
        p.start()

    def _status(self) -> str:
        tls = " (TLS)" if self.web and self.web.config.tls else ""
        return f"serving {self._where()}{tls}, polling every {self.cfg.pollinterval:g}s"

    # --- reload --------------------------------------------------------------------------------
    def reload(self) -> bool:
        """Apply the config files again, or keep everything as it was; False if nothing runs."""
        self.notifier.reloading()
        self.notifier.watchdog()
        log.info("SIGHUP: reloading %s", self.cfg.path or "the configuration")
        assert self.current is not None
        self.current.reopen_events()  # even if the new configuration turns out broken
        try:
            self._reload()
        except ReloadFailed as e:
            log.error("reload failed, keeping the running configuration: %s", e)
            self.reload_state.successful = False
        except _NothingRuns as e:
            log.critical("reload failed and the previous pipeline could not be restarted: %s", e)
            self.reload_state.successful = False
            return False
        else:  # the reload gauges were set by _publish, as the pipeline became visible
            log.info("reload done: %s", self._status())
        self.notifier.ready(self._status())
        return True

    def _reload(self) -> None:
        try:
            cfg = config.load(self.cfg.path) if self.cfg.path else config.Config()
        except config.ConfigError as e:
            raise ReloadFailed(str(e).replace("\n", "; ")) from None
        web = None
        if self.web is not None and self.web.config.path is not None:
            try:
                web = webconfig.load(self.web.config.path)
            except config.ConfigError as e:
                raise ReloadFailed(str(e).replace("\n", "; ")) from None
        listen = self.listen_override or (cfg.listen,)
        servers = self._listen(listen) if listen != self.listen and not self.sockets else None
        try:
            self._replace_pipeline(cfg)
        except BaseException:
            for s in servers or []:
                s.server_close()
            raise
        self.cfg = cfg
        if web is not None and self.web is not None:
            self.web.replace(web)
        if servers is not None:
            old, self.servers, self.listen = self.servers, servers, listen
            for s in servers:
                s.start()
            self._close(old)

    def _replace_pipeline(self, cfg: config.Config) -> None:
        """New pipeline first; if the kernel refuses (e.g. an NFLOG group only one socket may
        bind, held by the old one), stop the old one, retry, and on failure restart the old."""
        old = self.current
        assert old is not None
        if cfg == old.cfg:
            self._publish(old)  # nothing the pipeline uses changed: keep sockets and counters
            return
        try:
            new = pipeline.build(cfg)
        except OSError as first:
            log.info("cannot open the new pipeline beside the running one (%s): stopping the "
                     "running one first", first)
            old.poller.stop()  # frees its sockets; its Graphite sender keeps its backlog
            try:
                new = pipeline.build(cfg)
            except OSError as e:
                try:
                    again = pipeline.build(old.cfg)
                except OSError as refused:
                    old.stop()  # nothing runs next: flush what can be flushed
                    raise _NothingRuns(self.problem(refused, old.cfg)) from None
                self._start_pipeline(again)
                self.current = again
                old.stop(successor=again)
                raise ReloadFailed(self.problem(e, cfg)) from None
            self._start_pipeline(new)
            self._publish(new)
            old.stop(successor=new)  # undelivered Graphite lines move to the new sender
            return
        self._start_pipeline(new)
        self._publish(new)
        old.stop(successor=new)  # undelivered Graphite lines move to the new sender

    def _publish(self, new: pipeline.Pipeline) -> None:
        """Mark the reload successful before scrapes can see the new pipeline, so no scrape
        shows new series beside a stale reload gauge."""
        self.reload_state.successful = True
        self.reload_state.success_time = time.time()
        self.current = new


class _NothingRuns(Exception):
    pass

