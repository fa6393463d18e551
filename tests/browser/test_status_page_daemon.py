"""Chromium loads the status page from the real daemon, behind basic auth, while real traffic
flows in the test namespace: the counter's packets and rate update on their own."""

import base64
import threading
from pathlib import Path

from tests.support.chromium import Browser
from tests.support.daemon import Daemon
from tests.support.firewall import iptables_log
from tests.support.netns import Netns
from tests.support.tls import bcrypt_hash

PORT = 31817
CONFIG = """\
pollinterval: 0.5
labels:
  - match: '^(?P<family>ipv[46])\\.(?P<app>[^.]+)$'
nflog:
  - group: 3
    verdict: drop
"""
AUTH = "Basic " + base64.b64encode(b"admin:s3cret").decode()
ROW = ("[...document.querySelectorAll('#rows tr')].find(r => r.cells[0].textContent === "
       "'ipv4.web')")


def traffic(ns: Netns, stop: threading.Event) -> threading.Thread:
    """UDP datagrams to PORT every 20 ms inside the namespace until ``stop``."""
    def send() -> None:
        while not stop.wait(0.02):
            ns.udp("127.0.0.1", PORT, b"w" * 200, count=2)
    t = threading.Thread(target=send, daemon=True)
    t.start()
    return t


def test_page_from_the_daemon_updates_with_real_traffic(ns: Netns, tmp_path: Path,
                                                         browser: Browser) -> None:
    ns.run("nfacct", "add", "ipv4.web")
    ns.run("iptables", "-A", "INPUT", "-p", "udp", "--dport", str(PORT), "-m", "nfacct",
           "--nfacct-name", "ipv4.web")
    iptables_log(ns, "iptables", "udp", PORT, 3, "web drop")
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  admin: '{bcrypt_hash('s3cret')}'\n")
    d = Daemon(ns, tmp_path, CONFIG, ("--web.config.file", str(web)))
    url = f"http://127.0.0.1:{d.port}"
    d.wait_until(lambda: ns.http(url + "/metrics", headers={"Authorization": AUTH})[0] == 200)
    for path in ("/", "/api/status", "/static/status.js"):  # the same protection as /metrics
        assert ns.http(url + path)[0] == 401, path
    stop = threading.Event()
    sender = traffic(ns, stop)
    try:
        browser.call("Network.setExtraHTTPHeaders", headers={"Authorization": AUTH})
        browser.goto(url + "/")
        browser.until(f"!!{ROW}")
        packets = int(browser.js(f"{ROW}.cells[4].textContent"))
        browser.until(f"+{ROW}.cells[4].textContent > {packets} && "
                      f"{ROW}.cells[2].textContent.endsWith(' p/s') && "
                      f"!{ROW}.cells[2].textContent.startsWith('0 ')")
        assert browser.js(f"{ROW}.cells[3].textContent").endswith("bit/s")
        assert "app=web" in browser.js(f"{ROW}.cells[1].textContent")
        browser.until("[...document.querySelectorAll('#nflog tr.bad td.name')]"
                      ".some(c => c.textContent === 'web drop')")
        health = browser.js("document.getElementById('health').textContent")
        assert "all read" in health and "configuration loaded" in health
        browser.screenshot("status-page-daemon.png")
        browser.goto(browser.js("document.querySelector('header nav a').href"))
        assert "nfacct_packets_total" in browser.js("document.body.textContent")
    finally:
        stop.set()
        sender.join(5)
