"""The HTTP endpoint: landing page at ``/``, metrics at ``/metrics``, 404 elsewhere, GET/HEAD only.

Request threads only copy the bytes the Prometheus sink rendered at the last poll. With a web
config (``config.web``) it serves TLS and checks basic auth. The TLS handshake runs in the
connection's own thread, never in the accept loop: prometheus_client's server handshakes in its
accept loop, so one client that connects and stays silent stalls every other scrape.
"""

import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from nfacct_exporter import __version__
from nfacct_exporter.basic_auth import Users, credentials
from nfacct_exporter.config import ConfigError
from nfacct_exporter.config.web import WebConfig, load
from nfacct_exporter.sinks.prometheus import CONTENT_TYPE

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0  # a silent TLS client holds only its own thread, and only this long
IDLE_TIMEOUT = 120.0  # keep-alive connections idle longer than this are closed

LANDING = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>nfacct-exporter</title></head>
<body><h1>nfacct-exporter</h1>
<p>Linux netfilter accounting (NFACCT) and NFLOG counters for Prometheus. Version {__version__}.</p>
<p><a href="/metrics">Metrics</a></p>
</body></html>
""".encode()

_PLAIN = WebConfig()


class WebConfigSource:
    """The current web config; re-read when the file or a certificate it names changes.

    ``current()`` runs for every connection and costs a few ``stat`` calls at most once a second,
    so certificates rotate without a restart. A broken new version is logged once and the last
    good one stays in force.
    """

    def __init__(self, config: WebConfig, log: Any) -> None:
        self.config = config
        self.log = log
        self._stamp = _stamp(config.files)
        self._checked = time.monotonic()
        self._failed_stamp: tuple | None = None
        self._lock = threading.RLock()

    def current(self) -> WebConfig:
        now = time.monotonic()
        if now - self._checked < 1.0 or self.config.path is None:
            return self.config
        with self._lock:
            if now - self._checked < 1.0:
                return self.config
            self._checked = now
            stamp = _stamp(self.config.files)
            if stamp != self._stamp and stamp != self._failed_stamp:
                try:
                    self.replace(load(self.config.path))
                    self.log.info("web config %s changed: re-read", self.config.path)
                except ConfigError as e:
                    self._failed_stamp = stamp
                    self.log.error("web config changed but is invalid, keeping the previous "
                                   "one: %s", str(e).replace("\n", "; "))
            return self.config

    def replace(self, config: WebConfig) -> None:
        with self._lock:
            self.config = config
            self._stamp = _stamp(config.files)
            self._failed_stamp = None


def _stamp(files: tuple[str, ...]) -> tuple:
    out = []
    for f in files:
        try:
            st = os.stat(f)
            out.append((st.st_ino, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


class Handler(BaseHTTPRequestHandler):
    server: "MetricsServer"
    server_version = f"nfacct-exporter/{__version__}"
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    web = _PLAIN

    def _reply(self, code: int, ctype: str, body: bytes, extra: dict[str, str] | None = None,
               head: bool = False) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (*(extra or {}).items(), *self.web.headers):
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _authorized(self) -> bool:
        """basic_auth_users: every path needs valid credentials (as in the exporter-toolkit)."""
        self.web = self.server.web_config()
        users = self.server.users(self.web)
        if users is None:
            return True
        cred = credentials(self.headers.get("Authorization"))
        if cred is not None and users.check(*cred):
            return True
        self._reply(401, "text/plain; charset=utf-8", b"401 Unauthorized\n",
                    {"WWW-Authenticate": 'Basic realm="nfacct-exporter", charset="UTF-8"'},
                    head=self.command == "HEAD")
        return False

    def do_GET(self, head: bool = False) -> None:  # noqa: N802 (http.server's naming)
        if not self._authorized():
            return
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            gz = "gzip" in self.headers.get("Accept-Encoding", "")
            body = self.server.exposition(gz)
            extra = {"Content-Encoding": "gzip"} if gz else {}
            self._reply(200, CONTENT_TYPE, body, extra, head)
        elif path == "/":
            self._reply(200, "text/html; charset=utf-8", LANDING, head=head)
        else:
            self._reply(404, "text/plain; charset=utf-8", b"404 not found: try /metrics\n",
                        head=head)

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET(head=True)

    def _not_allowed(self) -> None:
        if self._authorized():
            self._reply(405, "text/plain; charset=utf-8", b"405 method not allowed\n",
                        {"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("%s %s", self.address_string(), format % args)


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, exposition: Callable[[bool], bytes],
                 web: WebConfigSource | None = None) -> None:
        self.exposition = exposition
        self.web = web
        self._users: tuple[WebConfig, Users] | None = None
        self.address_family = socket.AF_INET6 if ":" in host or host == "" else socket.AF_INET
        self._dual = host == ""
        try:
            super().__init__(("::" if host == "" else host, port), Handler)
        except OSError:
            if not self._dual:
                raise
            self.address_family, self._dual = socket.AF_INET, False  # no IPv6: all IPv4
            super().__init__(("0.0.0.0", port), Handler)

    def web_config(self) -> WebConfig:
        return self.web.current() if self.web is not None else _PLAIN

    def users(self, web: WebConfig) -> Users | None:
        """The basic-auth checker of ``web``, kept (with its cache) while ``web`` is current."""
        if web.users is None:
            return None
        if self._users is None or self._users[0] is not web:
            self._users = (web, Users(web.users))
        return self._users[1]

    def server_bind(self) -> None:
        if self._dual:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Runs on the connection's thread: the TLS handshake happens here, with a timeout."""
        web = self.web_config()
        if web.tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            conn = web.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as e:
            log.debug("TLS handshake with %s failed: %s", client_address[0], e)
            return
        try:
            if web.allowed_sans and not web.san_allowed(conn.getpeercert() or {}):
                log.info("TLS client %s: certificate has none of client_allowed_sans",
                         client_address[0])
                return
            super().finish_request(conn, client_address)
        finally:
            conn.close()

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        t.start()
        return t
