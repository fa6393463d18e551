"""The HTTP endpoint: landing page at ``/``, metrics at ``/metrics``, 404 elsewhere, GET/HEAD only.

Request threads only copy the bytes the Prometheus sink rendered at the last poll. With a web
config it serves TLS (``tls``) and checks basic auth (``auth``). A client that resets or stalls
its connection costs one debug line, never a traceback: anyone who can connect could flood the
log otherwise.
"""

import logging
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

from nfacct_exporter import __version__
from nfacct_exporter.web import landing
from nfacct_exporter.web.auth import credentials
from nfacct_exporter.web.negotiation import wants_gzip
from nfacct_exporter.web.tls import PLAIN, Active, WebConfigSource, handshake

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 120.0  # keep-alive connections idle longer than this are closed
TEXT = "text/plain; charset=utf-8"


class Handler(BaseHTTPRequestHandler):
    server: "MetricsServer"
    server_version = f"nfacct-exporter/{__version__}"
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    web = PLAIN

    def _reply(self, code: int, ctype: str, body: bytes, extra: dict[str, str] | None = None,
               head: bool = False) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (*(extra or {}).items(), *self.web.config.headers):
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _authorized(self) -> bool:
        """basic_auth_users: every path needs valid credentials (as in the exporter-toolkit)."""
        self.web = self.server.web_config()
        if self.web.users is None:
            return True
        cred = credentials(self.headers.get("Authorization"))
        if cred is not None and self.web.users.check(*cred):
            return True
        self._reply(401, TEXT, b"401 Unauthorized\n",
                    {"WWW-Authenticate": 'Basic realm="nfacct-exporter", charset="UTF-8"'},
                    head=self.command == "HEAD")
        return False

    def do_GET(self, head: bool = False) -> None:  # noqa: N802 (http.server's naming)
        if not self._authorized():
            return
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            gz = wants_gzip(self.headers.get("Accept-Encoding"))
            body = self.server.exposition(gz)
            extra = {"Content-Encoding": "gzip"} if gz else {}
            self._reply(200, CONTENT_TYPE_PLAIN_0_0_4, body, extra, head)
        elif path == "/":
            self._reply(200, landing.CONTENT_TYPE, landing.PAGE, head=head)
        else:
            self._reply(404, TEXT, b"404 not found: try /metrics\n", head=head)

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET(head=True)

    def _not_allowed(self) -> None:
        if self._authorized():
            self._reply(405, TEXT, b"405 method not allowed\n", {"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("%s %s", self.address_string(), format % args)


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, exposition: Callable[[bool], bytes],
                 web: WebConfigSource | None = None) -> None:
        self.exposition = exposition
        self.web = web
        self.address_family = socket.AF_INET6 if ":" in host or host == "" else socket.AF_INET
        self._dual = host == ""
        try:
            super().__init__(("::" if host == "" else host, port), Handler)
        except OSError:
            if not self._dual:
                raise
            self.address_family, self._dual = socket.AF_INET, False  # no IPv6: all IPv4
            super().__init__(("0.0.0.0", port), Handler)

    def web_config(self) -> Active:
        return self.web.current() if self.web is not None else PLAIN

    def server_bind(self) -> None:
        if self._dual:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Runs on the connection's thread: the TLS handshake happens here, with a timeout."""
        web = self.web_config().config
        if web.tls is None:
            super().finish_request(request, client_address)
            return
        conn = handshake(request, web, client_address[0])
        if conn is None:
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Once per connection that ended in an exception: a client's reset, timeout or TLS
        error is one debug line; anything else is a bug in here, logged with its traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # resets, broken pipes, timeouts, ssl.SSLError
            log.debug("client %s: connection error: %s", client_address[0], error)
        else:
            log.error("client %s: request failed", client_address[0], exc_info=True)

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        t.start()
        return t
