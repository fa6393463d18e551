"""The status page's HTML and assets: escaped names, routes, headers and the weight budget."""

import gzip
import html
import re

from nfacct_exporter.records import NfacctObject, NflogCount, NflogGroupStats
from nfacct_exporter.sinks.status import StatusSink
from nfacct_exporter.snapshot import Reading, Snapshot
from nfacct_exporter.web import status_page
from nfacct_exporter.web.app import App, Request, Response
from nfacct_exporter.web.status_page import ASSETS, fmt_rate, routes, spark
from nfacct_exporter.web.tls import PLAIN

HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "a&amp;b", "'q'"]
BUDGET = 60 * 1024


class Page:
    """The status routes behind the real App, as the daemon serves them."""

    def __init__(self, sink: StatusSink) -> None:
        self.app = App(routes(lambda: sink))

    def get(self, path: str, query: str = "", headers: dict | None = None) -> Response:
        return self.app.handle(Request("GET", path, query, headers or {}), PLAIN)


def page_of(objs: list[NfacctObject], nflog: tuple = ()) -> Page:
    sink = StatusSink((), 10)
    for seq in (1, 2):
        readings = {"nfacct": Reading("nfacct", True, 0.0, tuple(
            o._replace(packets=o.packets * seq, bytes=o.bytes * seq) for o in objs))}
        if nflog:
            readings["nflog"] = Reading("nflog", True, 0.0, nflog, extra={
                "groups": (NflogGroupStats(1, 0, len(nflog), 0),)})
        sink.publish(Snapshot(seq, 1_800_000_000.0 + 10 * seq, 0.001, readings))
    return Page(sink)


def test_names_and_prefixes_are_escaped() -> None:
    objs = [NfacctObject(n, 10, 100) for n in HOSTILE]
    nflog = tuple(NflogCount(1, n, "drop", 1, 1) for n in HOSTILE)
    page = page_of(objs, nflog)
    body = page.get("/").body.decode()
    for name in HOSTILE:
        assert body.count(f'<td class="name">{html.escape(name)}</td>') == 2
    assert body.count("<script") == 1  # the page's own script tag, nothing else
    assert "<img" not in body
    assert 'value="&quot;&gt;&lt;b&gt;"' in page.get("/", "q=%22><b>").body.decode()


def test_routes_and_headers() -> None:
    page = page_of([NfacctObject("ipv4.http", 1, 1)])
    root = page.get("/")
    assert root.content_type.startswith("text/html")
    headers = dict(root.headers)
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert page.get("/api/status").content_type == "application/json"
    assert page.get("/static/status.js").body.startswith(b"//")
    assert page.get("/static/status.css").content_type.startswith("text/css")
    assert page.get("/static/../status_page.py").status == 404
    assert page.get("/metrics").status == 404  # the daemon adds it (app.default)
    gz = page.get("/", headers={"Accept-Encoding": "gzip"})
    assert ("Content-Encoding", "gzip") in gz.headers
    assert gzip.decompress(gz.body) == root.body
    assert b'href="/metrics"' in root.body


def test_page_weight_budget_and_no_other_host() -> None:
    objs = [NfacctObject(f"ipv4.app{i:05d}", i, 1000 * i) for i in range(10_000)]
    page = page_of(objs)
    html_page = page.get("/").body
    total = len(html_page) + sum(len(body) for _, body in ASSETS.values())
    assert total < BUDGET, total  # even with 10,000 counters: the top 50 are rendered
    for body in (html_page, *(b for _, b in ASSETS.values())):
        text = body.decode()
        assert "innerHTML" not in text and "eval(" not in text
        urls = re.findall(r"(?:https?:)?//[\w.-]+", text)
        assert set(urls) <= {"http://www.w3.org"}, urls  # the SVG namespace name only
        assert "style=" not in text and "onclick" not in text  # nothing CSP would block


def test_rate_formatting_and_sparkline() -> None:
    assert fmt_rate(None, "bit/s") == "–"
    assert fmt_rate(0.0, "p/s") == "0 p/s"
    assert fmt_rate(999.0, "p/s") == "999 p/s"
    assert fmt_rate(1234.5, "bit/s") == "1.23 kbit/s"
    assert fmt_rate(2.5e9, "bit/s") == "2.5 Gbit/s"
    assert fmt_rate(7e15, "bit/s") == "7e+03 Tbit/s"
    svg = spark([None, 0.0, 5.0, 10.0])
    assert 'points="26.7,17.0 53.3,9.0 80.0,1.0"' in svg
    assert "points=\"\"" in spark([None, None])


def test_no_javascript_paging_links() -> None:
    objs = [NfacctObject(f"c{i:03d}", i, i) for i in range(120)]
    body = page_of(objs).get("/", "offset=50").body.decode()
    assert 'href="?" id="prev"' in body and 'href="?offset=100" id="next"' in body
    assert "51–100 of 120" in body
    assert status_page.COLUMNS[0] == ("name", "Name")
