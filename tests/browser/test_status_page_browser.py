"""The status page in a real headless Chromium, served from fake polls by an in-process server.

The browser sees rates change from poll to poll, sorts, filters, pages, keeps every hostile
name as text, asks nothing of another host and stays within the page weight budget; with
JavaScript off the server-rendered table sorts through plain links. Screenshots are kept in
``build/test-artifacts/`` (``$TEST_ARTIFACTS`` overrides).
"""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from nfacct_exporter import naming
from nfacct_exporter.records import NfacctObject, NflogCount, NflogGroupStats, NftCounter
from nfacct_exporter.sinks.status import StatusSink
from nfacct_exporter.snapshot import Reading, Snapshot
from nfacct_exporter.web.app import App, Request
from nfacct_exporter.web.status_page import routes
from nfacct_exporter.web.tls import PLAIN
from tests.support.chromium import Browser
from tests.support.netns import Netns, free_port

HOSTILE = ['<script>window.__pwned=1</script>', '<img src=x onerror="window.__pwned=2">',
           '"><svg onload=window.__pwned=3>']
PAGE_BUDGET = 60 * 1024
RULES = (naming.regex_rule(r"^(?P<family>ipv[46])\.(?P<app>[^.]+)$"),)


def poll(seq: int) -> Snapshot:
    """Counters growing at rates that change every poll; 120 filler counters for paging."""
    k = seq % 4 + 1
    objs = [NfacctObject("ipv4.http", 100 * k * seq, 150_000 * k * seq),
            NfacctObject("ipv6.dns", 10 * seq, 900 * seq),
            *(NfacctObject(n, seq, 60 * seq) for n in HOSTILE),
            *(NfacctObject(f"bulk.c{i:03d}", i * seq, i * 64 * seq) for i in range(120))]
    nflog = (NflogCount(5, "IN DROP ssh", "drop", 40 * seq, 2400 * seq),
             NflogCount(5, HOSTILE[0], "drop", seq, 60 * seq),
             NflogCount(5, None, "drop", seq, 40 * seq),
             NflogCount(6, "OUT ACCEPT", "accept", 7 * seq, 700 * seq))
    t = 1_800_000_000.0 + seq
    return Snapshot(seq, t, 0.002, {
        "nfacct": Reading("nfacct", True, 0.001, tuple(objs)),
        "nfacct@blue": Reading("nfacct", True, 0.001,
                               (NfacctObject("ipv4.http", 3 * seq, 300 * seq),), netns="blue"),
        "nft": Reading("nft", True, 0.001, (NftCounter("inet", "filter", "ipv6.web", 5 * seq,
                                                       500 * seq),)),
        "nflog": Reading("nflog", True, 0.0, nflog, extra={
            "groups": (NflogGroupStats(5, seq // 3, 3, seq), NflogGroupStats(6, 0, 1, 0)),
            "receive_errors": 0}),
    })


class Served:
    """The status routes on an in-process HTTP server in the namespace, fed a poll every 0.4 s."""

    def __init__(self, ns: Netns) -> None:
        self.sink = StatusSink(RULES, interval=1.0)
        self.seq = 0
        self.feed()
        app = App(routes(lambda: self.sink))

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                r = app.handle(Request("GET", url.path, url.query, dict(self.headers.items())),
                               PLAIN)
                self.send_response(r.status)
                self.send_header("Content-Type", r.content_type)
                self.send_header("Content-Length", str(len(r.body)))
                for k, v in r.headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(r.body)

            def log_message(self, *args: object) -> None:
                pass

        port = free_port()
        self.server = ns.call(lambda: ThreadingHTTPServer(("127.0.0.1", port), Handler))
        self.origin = f"http://127.0.0.1:{port}"
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self.server.serve_forever, daemon=True),
                         threading.Thread(target=self._poll, daemon=True)]
        for t in self._threads:
            t.start()

    def feed(self) -> None:
        self.seq += 1
        self.sink.publish(poll(self.seq))

    def _poll(self) -> None:
        while not self._stop.wait(0.4):
            self.feed()

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served(ns: Netns) -> Iterator[Served]:
    s = Served(ns)
    try:
        yield s
    finally:
        s.close()


NAMES = "[...document.querySelectorAll('#rows td.name')].map(e => e.textContent)"
CELL = ("[...document.querySelectorAll('#rows tr')].find(r => r.cells[0].textContent === "
        "'ipv4.http' && !r.cells[1].textContent.includes('netns'))?.cells[{}].textContent")


def type_filter(browser: Browser, text: str) -> None:
    """Type into the filter box as a user would (the script reacts to ``input`` events)."""
    browser.js(f"(q => {{ q.value = {text!r}; q.dispatchEvent(new Event('input')); }})"
               "(document.getElementById('q'))")


def test_live_page_sorts_filters_and_keeps_names_as_text(served: Served,
                                                         browser: Browser) -> None:
    browser.goto(served.origin + "/")
    assert browser.js(NAMES)[0] == "ipv4.http"  # server-rendered: highest bit rate first

    # rates move: the script refreshes from /api/status and the bit rate cell changes
    seq = browser.until("document.body.dataset.seq")
    first = browser.js(CELL.format(3))
    browser.until(f"document.body.dataset.seq > {seq} && {CELL.format(3)} !== {first!r}")
    assert browser.js(CELL.format(3)).endswith("bit/s")
    assert browser.js("document.querySelectorAll('#rows svg.spark polyline').length") >= 50
    load_end = len(browser.events)

    # sort by name, ascending then descending, by clicking the header
    browser.js("document.querySelector('#head a[data-sort=name]').click()")
    browser.until(f"(n => n.length && n.every((x, i) => !i || n[i-1] <= x))({NAMES})")
    assert "sort=name" in browser.js("location.search")
    browser.js("document.querySelector('#head a[data-sort=name]').click()")
    browser.until(f"(n => n.length && n.every((x, i) => !i || n[i-1] >= x))({NAMES})")

    # page through the 120 filler counters
    browser.until("!!document.querySelector('#pager #next')")
    browser.js("document.querySelector('#pager #next').click()")
    browser.until("document.querySelector('#pager span').textContent.startsWith('51–100 of')")

    # filter by a label (both namespaces' ipv4.http), then by text (an NFACCT and an nft name)
    type_filter(browser, "family=ipv4")
    browser.until(f"{NAMES}.join() === 'ipv4.http,ipv4.http'")
    assert browser.js("document.getElementById('count').textContent").startswith("2 of ")
    assert "netns=blue" in browser.js("document.getElementById('rows').textContent")
    type_filter(browser, "IPV6")
    browser.until(f"{NAMES}.sort().join() === 'ipv6.dns,ipv6.web'")

    # hostile names are text, nothing they hold ran
    type_filter(browser, "pwned")
    browser.until(f"{NAMES}.length === {len(HOSTILE)}")
    assert sorted(browser.js(NAMES)) == sorted(HOSTILE)
    assert HOSTILE[0] in browser.js("document.getElementById('nflog').textContent")
    assert browser.js("window.__pwned") is None
    assert browser.js("document.scripts.length") == 1
    assert browser.js("document.querySelectorAll('#rows img, #rows script, #nflog img, "
                      "#nflog script, #rows svg:not(.spark)').length") == 0
    assert not [e for e in browser.events if e["method"] == "Page.javascriptDialogOpening"]

    # NFLOG: drops first and marked, the overflow record shown as such; loss in the health panel
    assert browser.js("document.querySelector('#nflog h3').textContent") == "drop"
    assert browser.js("document.querySelector('#nflog tr.bad td').textContent") == "IN DROP ssh"
    assert browser.js("!!document.querySelector('#nflog td.overflow')")
    assert "packets lost" in browser.js("document.getElementById('health').textContent")

    type_filter(browser, "")
    browser.until(f"{NAMES}.length === 50")
    assert browser.screenshot("status-page.png").stat().st_size > 10_000

    # nothing asked of another host; the page (HTML, CSS, script, one refresh) within budget
    urls = [e["params"]["request"]["url"] for e in browser.events
            if e["method"] == "Network.requestWillBeSent"]
    assert urls and all(u.startswith(served.origin + "/") for u in urls), urls
    sizes = [e["params"]["encodedDataLength"] for e in browser.events[:load_end]
             if e["method"] == "Network.loadingFinished"]
    assert len(sizes) >= 4 and sum(sizes) < PAGE_BUDGET, sizes


def test_page_without_javascript_sorts_through_links(served: Served, browser: Browser) -> None:
    browser.call("Emulation.setScriptExecutionDisabled", value=True)
    browser.goto(served.origin + "/?q=ipv")
    assert sorted(browser.js(NAMES)) == ["ipv4.http", "ipv4.http", "ipv6.dns", "ipv6.web"]
    href = browser.js("document.querySelector('#head a[data-sort=name]').href")
    browser.goto(href)
    assert browser.js(NAMES) == ["ipv4.http", "ipv4.http", "ipv6.dns", "ipv6.web"]
    assert "Bits/s" in browser.js("document.getElementById('head').textContent")
    browser.screenshot("status-page-nojs.png")
