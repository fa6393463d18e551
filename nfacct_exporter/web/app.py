"""What the HTTP endpoint answers, independent of how connections are served.

A ``Request`` (method, path, query, headers) goes through ``App.handle``: basic auth first (every
path, as in the exporter-toolkit), then the route for the path, 404 for others, 405 for methods
other than GET and HEAD. A route is a function ``Request -> Response``; the daemon builds the
table (``/metrics``, the status page and its JSON), the server only moves bytes.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS

from nfacct_exporter.web.auth import credentials
from nfacct_exporter.web.negotiation import wants_gzip, wants_openmetrics
from nfacct_exporter.web.tls import Active

TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)  # names as sent; use header()

    def header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == low), None)


Body = bytes | tuple[bytes, ...]  # parts: sent in turn, as if joined


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: Body
    headers: tuple[tuple[str, str], ...] = ()


Route = Callable[[Request], Response]


def metrics(exposition: Callable[[bool, bool], Body]) -> Route:
    """``/metrics``: the cached exposition, gzipped when the client prefers it, in OpenMetrics
    when its ``Accept`` prefers that (q-values both)."""
    def route(req: Request) -> Response:
        gz = wants_gzip(req.header("Accept-Encoding"))
        om = wants_openmetrics(req.header("Accept"))
        extra = (("Content-Encoding", "gzip"),) if gz else ()
        kind = OPENMETRICS if om else CONTENT_TYPE_PLAIN_0_0_4
        return Response(200, kind, exposition(gz, om), extra)
    return route


class App:
    def __init__(self, routes: Mapping[str, Route]) -> None:
        self.routes = dict(routes)

    def handle(self, req: Request, web: Active) -> Response:
        """The response to ``req`` under web config ``web`` (auth, headers), body kept for HEAD:
        the server drops it and keeps Content-Length."""
        if web.users is not None:
            cred = credentials(req.header("Authorization"))
            if cred is None or not web.users.check(*cred):
                return self._with(web, Response(401, TEXT, b"401 Unauthorized\n", (
                    ("WWW-Authenticate", 'Basic realm="nfacct-exporter", charset="UTF-8"'),)))
        if req.method not in ("GET", "HEAD"):
            return self._with(web, Response(405, TEXT, b"405 method not allowed\n",
                                            (("Allow", "GET, HEAD"),)))
        route = self.routes.get(req.path)
        if route is None:
            return self._with(web, Response(404, TEXT, b"404 not found: try /metrics\n"))
        return self._with(web, route(req))

    @staticmethod
    def slow(req: Request, web: Active) -> bool:
        """True if answering ``req`` takes a bcrypt check (tens of ms): not for an event loop."""
        if web.users is None:
            return False
        cred = credentials(req.header("Authorization"))
        return cred is not None and not web.users.cached(*cred)

    @staticmethod
    def _with(web: Active, resp: Response) -> Response:
        if not web.config.headers:
            return resp
        return Response(resp.status, resp.content_type, resp.body,
                        resp.headers + web.config.headers)


def default(exposition: Callable[[bool, bool], Body], pages: Mapping[str, Route],
            telemetry_path: str = "/metrics") -> App:
    """The endpoint as the daemon serves it: the metrics at ``telemetry_path``
    (``--web.telemetry-path``) and the pages (``web.status_page``)."""
    return App({telemetry_path: metrics(exposition), **pages})
