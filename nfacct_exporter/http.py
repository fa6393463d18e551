"""The HTTP endpoint: landing page at ``/``, metrics at ``/metrics``, 404 elsewhere, GET/HEAD only.

Request threads only copy the bytes the Prometheus sink rendered at the last poll.
"""

import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from nfacct_exporter import __version__
from nfacct_exporter.sinks.prometheus import CONTENT_TYPE

log = logging.getLogger(__name__)

LANDING = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>nfacct-exporter</title></head>
<body><h1>nfacct-exporter</h1>
<p>Linux netfilter accounting (NFACCT) and NFLOG counters for Prometheus. Version {__version__}.</p>
<p><a href="/metrics">Metrics</a></p>
</body></html>
""".encode()


class Handler(BaseHTTPRequestHandler):
    server: "MetricsServer"
    server_version = f"nfacct-exporter/{__version__}"
    protocol_version = "HTTP/1.1"

    def _reply(self, code: int, ctype: str, body: bytes, extra: dict[str, str] | None = None,
               head: bool = False) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def do_GET(self, head: bool = False) -> None:  # noqa: N802 (http.server's naming)
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
        self._reply(405, "text/plain; charset=utf-8", b"405 method not allowed\n",
                    {"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("%s %s", self.address_string(), format % args)


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, exposition: Callable[[bool], bytes]) -> None:
        self.exposition = exposition
        self.address_family = socket.AF_INET6 if ":" in host or host == "" else socket.AF_INET
        self._dual = host == ""
        try:
            super().__init__(("::" if host == "" else host, port), Handler)
        except OSError:
            if not self._dual:
                raise
            self.address_family, self._dual = socket.AF_INET, False  # no IPv6: all IPv4
            super().__init__(("0.0.0.0", port), Handler)

    def server_bind(self) -> None:
        if self._dual:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        t.start()
        return t
