"""--web.config.file for real: TLS with client certificates and bcrypt basic auth, checked from a
real client (curl, and Python's ssl), and a silent TLS client that must not stall other scrapes."""

import re
import shutil
import signal
import socket
import ssl
import time
from pathlib import Path

import pytest

from tests.support import prom
from tests.support.daemon import Daemon
from tests.support.exposition import samples
from tests.support.netns import free_port
from tests.support.prom import Prometheus
from tests.support.tls import bcrypt_hash, client_context, https_get, make_certs

pytestmark = pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("curl")),
                                reason="needs the openssl and curl commands")

CONFIG = "pollinterval: 0.5\n"


def web_config(tmp, password: str, client_auth: str = "RequireAndVerifyClientCert",  # noqa: ANN001
               extra: str = "") -> str:
    return f"""\
tls_server_config:
  cert_file: certs/server.crt
  key_file: certs/server.key
  client_ca_file: certs/ca.crt
  client_auth_type: {client_auth}
{extra}http_server_config:
  headers:
    X-Content-Type-Options: nosniff
basic_auth_users:
  prometheus: '{bcrypt_hash(password)}'
"""


def start(ns, tmp_path, web: str, certs: dict | None = None) -> tuple[Daemon, dict]:  # noqa: ANN001
    certs = certs or make_certs(tmp_path / "certs")
    (tmp_path / "web.yml").write_text(web)
    d = Daemon(ns, tmp_path, CONFIG, ("--web.config.file", str(tmp_path / "web.yml")))
    ctx = client_context(certs)
    d.wait_until(lambda: https_get(ns, d.port, ctx, auth=("prometheus", "s3cret"))[0] == 200)
    return d, certs


def curl(ns, d: Daemon, certs: dict, *args: str):  # noqa: ANN001, ANN201
    return ns.run("curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
                  "--cacert", str(certs["ca_crt"]), *args,
                  f"https://127.0.0.1:{d.port}/metrics", check=False)


def test_tls_client_cert_and_basic_auth_from_curl(ns, tmp_path) -> None:  # noqa: ANN001
    ns.run("nfacct", "add", "ipv4.tls")
    d, certs = start(ns, tmp_path, web_config(tmp_path, "s3cret"))
    cert = ("--cert", str(certs["client_crt"]), "--key", str(certs["client_key"]))
    ok = curl(ns, d, certs, *cert, "-u", "prometheus:s3cret")
    assert (ok.returncode, ok.stdout) == (0, "200"), ok.stderr
    wrong = curl(ns, d, certs, *cert, "-u", "prometheus:wrong")
    assert (wrong.returncode, wrong.stdout) == (0, "401")
    unknown = curl(ns, d, certs, *cert, "-u", "root:s3cret")
    assert unknown.stdout == "401"
    missing = curl(ns, d, certs, *cert)
    assert missing.stdout == "401"
    # no client certificate: the handshake is refused, no HTTP status at all
    nocert = curl(ns, d, certs, "-u", "prometheus:s3cret")
    assert nocert.returncode != 0 and nocert.stdout == "000", (nocert.returncode, nocert.stdout)
    # a certificate with the right name but from another CA is refused as well
    rogue = curl(ns, d, certs, "--cert", str(certs["rogue_crt"]), "--key",
                 str(certs["rogue_key"]), "-u", "prometheus:s3cret")
    assert rogue.returncode != 0 and rogue.stdout == "000"
    # plain HTTP on the TLS port gets nothing useful
    plain = ns.run("curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
                   f"http://127.0.0.1:{d.port}/metrics", check=False)
    assert plain.stdout != "200"

    status, headers, body = https_get(ns, d.port, client_context(certs), auth=("prometheus",
                                                                               "wrong"))
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Basic")
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, headers, body = https_get(ns, d.port, client_context(certs),
                                      auth=("prometheus", "s3cret"))
    assert status == 200 and headers["X-Content-Type-Options"] == "nosniff"
    got = samples(body)
    assert got[("nfacct_packets_total", frozenset({("name", "ipv4.tls")}))] == 0
    # landing page and 404 are behind auth as well
    assert https_get(ns, d.port, client_context(certs), "/", ("prometheus", "s3cret"))[0] == 200
    assert https_get(ns, d.port, client_context(certs), "/nope", ("prometheus", "s3cret"))[0] \
        == 404
    assert https_get(ns, d.port, client_context(certs), "/", None)[0] == 401


def test_client_allowed_sans(ns, tmp_path) -> None:  # noqa: ANN001
    web = web_config(tmp_path, "s3cret", extra="  client_allowed_sans: [prometheus]\n")
    d, certs = start(ns, tmp_path, web)  # start() got in with SAN DNS:prometheus
    # same CA, but SAN DNS:someone-else: the connection is closed before any HTTP
    with pytest.raises((ssl.SSLError, ConnectionError)):
        https_get(ns, d.port, client_context(certs, "other"), auth=("prometheus", "s3cret"))


def test_silent_tls_client_does_not_delay_scrapes(ns, tmp_path) -> None:  # noqa: ANN001
    d, certs = start(ns, tmp_path, web_config(tmp_path, "s3cret"))
    ctx = client_context(certs)

    def scrape_seconds() -> float:
        t = time.monotonic()
        assert https_get(ns, d.port, ctx, auth=("prometheus", "s3cret"), timeout=8)[0] == 200
        return time.monotonic() - t

    baseline = min(scrape_seconds() for _ in range(3))
    silent = ns.call(lambda: [socket.create_connection(("127.0.0.1", d.port)) for _ in range(5)])
    try:
        time.sleep(0.3)  # the server has accepted them and sits in their handshakes
        with_silent = max(scrape_seconds() for _ in range(3))
        # HANDSHAKE_TIMEOUT is 10 s: a handshake in the accept loop would stall us that long
        assert with_silent < 1.0, (baseline, with_silent)
        print(f"TLS scrape: {baseline * 1000:.1f} ms alone, {with_silent * 1000:.1f} ms (worst "
              "of 3) with 5 silent TLS clients connected")
    finally:
        for s in silent:
            s.close()


def test_web_config_rotation_and_reload(ns, tmp_path) -> None:  # noqa: ANN001
    """Changed web config files are picked up without a signal; a broken one is not, and a
    SIGHUP with a broken one keeps the old one and sets the reload gauge to 0."""
    d, certs = start(ns, tmp_path, web_config(tmp_path, "s3cret"))
    ctx = client_context(certs)
    web = tmp_path / "web.yml"
    web.write_text(web_config(tmp_path, "n3w"))
    d.wait_until(lambda: https_get(ns, d.port, ctx, auth=("prometheus", "n3w"))[0] == 200)
    assert https_get(ns, d.port, ctx, auth=("prometheus", "s3cret"))[0] == 401
    # broken on disk: the running one stays in force
    web.write_text(web_config(tmp_path, "n3w").replace("ca.crt", "missing.crt"))
    time.sleep(1.2)
    assert https_get(ns, d.port, ctx, auth=("prometheus", "n3w"))[0] == 200
    d.proc.send_signal(signal.SIGHUP)

    def reload_failed() -> bool:
        body = https_get(ns, d.port, ctx, auth=("prometheus", "n3w"))[2]
        return samples(body)[("nfacct_exporter_config_last_reload_successful", frozenset())] == 0
    d.wait_until(reload_failed)
    errors = [line for line in d.output().splitlines()
              if "level=error" in line and "reload" in line]
    assert len(errors) == 1 and "client_ca_file" in errors[0], d.output()


def readme_snippet(index: int) -> str:
    """The ``index``-th yaml block of README's "Running in production" section."""
    text = (Path(__file__).parent.parent.parent / "README.md").read_text()
    section = text[text.index("## Running in production"):]
    return re.findall(r"```yaml\n(.*?)```", section, re.S)[index]


@pytest.mark.skipif(not shutil.which("prometheus"), reason="needs Debian prometheus")
def test_real_prometheus_scrapes_with_the_readme_config(ns, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """README's web config and scrape config, as an operator would copy them: a real Prometheus
    scrapes over TLS with a client certificate and basic auth."""
    ns.run("nfacct", "add", "ipv4.readme")
    certs = make_certs(tmp_path / "certs")
    web = readme_snippet(0).replace("server.crt", str(certs["server_crt"])).replace(
        "server.key", str(certs["server_key"])).replace("ca.crt", str(certs["ca_crt"]))
    web = re.sub(r"prometheus: \$2y\S+", f"prometheus: '{bcrypt_hash('s3cret')}'", web)
    d, _ = start(ns, tmp_path, web, certs)
    scrape = readme_snippet(1).replace("/etc/prometheus/nfacct", str(certs["ca_crt"].parent))
    (certs["ca_crt"].parent / "password").write_text("s3cret\n")
    scrape = scrape.replace('"firewall1.example.net:9849"', '"{target}"')
    template = "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n{rules}\n" + scrape
    monkeypatch.setattr(prom, "CONFIG", template)
    p = Prometheus(ns, tmp_path, f"127.0.0.1:{d.port}", free_port())
    p.wait_query('up{job="nfacct"} == 1')
    result = p.wait_query('nfacct_packets_total{name="ipv4.readme"}')
    assert result[0]["value"][1] == "0"


def test_endpoints_methods_and_auth_over_plain_http(ns, tmp_path) -> None:  # noqa: ANN001
    """/ and /metrics only, GET and HEAD only; basic auth works without TLS too."""
    import base64
    import http.client

    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  u: '{bcrypt_hash('pw')}'\n")
    d = Daemon(ns, tmp_path, CONFIG, ("--web.config.file", str(tmp_path / "web.yml")))
    auth = {"Authorization": "Basic " + base64.b64encode(b"u:pw").decode()}

    def req(method: str, path: str, headers: dict) -> tuple[int, dict, bytes]:
        def go() -> tuple[int, dict, bytes]:
            c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=5)
            try:
                c.request(method, path, headers=headers)
                r = c.getresponse()
                return r.status, dict(r.headers), r.read()
            finally:
                c.close()
        return ns.call(go)

    d.wait_until(lambda: req("GET", "/metrics", auth)[0] == 200)
    status, _, body = req("GET", "/", auth)
    assert status == 200 and b'href="/metrics"' in body
    assert req("GET", "/metrics?x=1", auth)[0] == 200
    assert req("GET", "/metricsx", auth)[0] == 404
    status, headers, body = req("HEAD", "/metrics", auth)
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        status, headers, _ = req(method, "/metrics", auth)
        assert (status, headers.get("Allow")) == (405, "GET, HEAD"), method
    status, headers, _ = req("GET", "/metrics", {})
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic realm=")
    assert req("POST", "/metrics", {})[0] == 401  # credentials first, then the method
