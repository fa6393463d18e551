"""The HTTP server: connections, TLS (``tls``) and HTTP/1.1 framing; ``app.App`` decides what
to answer (auth, routes), and request threads only copy bytes rendered at the last poll. A client
that resets or stalls its connection costs one debug line, never a traceback: anyone who can
connect could flood the log otherwise.
"""

import logging
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from nfacct_exporter import __version__
from nfacct_exporter.web.app import App, Request
from nfacct_exporter.web.tls import PLAIN, Active, WebConfigSource, handshake

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 120.0  # keep-alive connections idle longer than this are closed


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 framing only: what to answer is ``app.App``'s job."""

    server: "MetricsServer"
    server_version = f"nfacct-exporter/{__version__}"
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        req = Request(self.command, path, query, dict(self.headers.items()))
        resp = self.server.app.handle(req, self.server.web_config())
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        for k, v in resp.headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("%s %s", self.address_string(), format % args)


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, app: App,
                 web: WebConfigSource | None = None, sock: socket.socket | None = None) -> None:
        """Listen on ``host:port``, or, given ``sock``, on that already bound socket (systemd
        socket activation: ``host`` and ``port`` are then ignored)."""
        self.app = app
        self.web = web
        if sock is not None:
            self.address_family, self._dual = sock.family, False
            super().__init__(sock.getsockname()[:2], Handler, bind_and_activate=False)
            self.socket.close()
            self.socket = sock
            self.server_address = sock.getsockname()
            self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]
            self.server_activate()
            return
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
