"""A real Prometheus negotiates OpenMetrics with the real exporter and stores the same values.

A small recording proxy between them keeps the ``Accept`` Prometheus sent and the
``Content-Type`` the exporter answered, so the test knows which format was scraped.
"""

import shutil
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.netns import free_port
from tests.support.prom import Prometheus

pytestmark = pytest.mark.skipif(not shutil.which("prometheus"), reason="needs Debian prometheus")


def recording_proxy(upstream: str, port: int, seen: list[tuple[str, str]]) -> ThreadingHTTPServer:
    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            accept = self.headers.get("Accept", "")
            req = urllib.request.Request(upstream + self.path, headers={"Accept": accept})
            with urllib.request.urlopen(req, timeout=5) as r:
                body, kind = r.read(), r.headers["Content-Type"]
            seen.append((accept, kind))
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()  # inherits the netns
    return server


def test_prometheus_scrapes_openmetrics(ns, exporter, tmp_path) -> None:  # noqa: ANN001
    ns.run("nfacct", "add", "ipv4.om")
    ns.sh("iptables -A INPUT -p udp --dport 30054 -m nfacct --nfacct-name ipv4.om")
    ns.udp("127.0.0.1", 30054, b"q" * 22, count=7)
    exp = exporter("pollinterval: 0.5\n")
    seen: list[tuple[str, str]] = []
    proxy_port = free_port()
    proxy = ns.call(lambda: recording_proxy(exp.url, proxy_port, seen))
    try:
        prom = Prometheus(ns, tmp_path, f"127.0.0.1:{proxy_port}", free_port())
        assert prom.wait_query('up{job="nfacct"} == 1')
        result = prom.wait_query('nfacct_bytes_total{name="ipv4.om"}')
        assert float(result[0]["value"][1]) == 7 * 50
        assert prom.query('nfacct_packets_total{name="ipv4.om"}')[0]["value"][1] == "7"
        assert prom.query("nfacct_exporter_build_info")[0]["metric"]["revision"]
        accept, kind = seen[0]
        assert accept.startswith("application/openmetrics-text"), accept
        assert kind.startswith("application/openmetrics-text; version=1.0.0"), kind
    finally:
        proxy.shutdown()
        proxy.server_close()
