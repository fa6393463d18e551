"""The real daemon and real clients: Accept-Encoding q-values decide gzip, and clients that reset
their connection (plain and TLS, before, during and after the request) leave no traceback, at
most one debug line each."""

import gzip
import shutil
import socket
import ssl
import struct
import time

import pytest

from tests.support.daemon import Daemon
from tests.support.exposition import parse_exposition
from tests.support.tls import client_context, https_get, make_certs

CONFIG = "pollinterval: 0.5\n"
RESETS = 5  # connections reset per kind


def get(ns, port: int, accept_encoding: str) -> tuple[dict[str, str], bytes]:  # noqa: ANN001
    """Raw HTTP/1.1 GET /metrics with exactly this Accept-Encoding (http.client adds its own)."""
    def go() -> tuple[dict[str, str], bytes]:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(f"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: {accept_encoding}"
                      "\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        assert lines[0].startswith("HTTP/1.1 200"), lines[0]
        return {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}, body
    return ns.call(go)


def test_accept_encoding_q_values(ns, tmp_path) -> None:  # noqa: ANN001
    ns.run("nfacct", "add", "ipv4.gz")
    d = Daemon(ns, tmp_path, CONFIG)
    d.wait_until(lambda: get(ns, d.port, "identity"))
    for header, gzipped in (("gzip", True), ("gzip;q=0", False), ("gzip; q=0.000", False),
                            ("gzip;q=0.5, identity;q=0.1", True),
                            ("gzip;q=0.1, identity;q=0.5", False), ("*", True),
                            ("*;q=0, identity", False), ("identity", False), ("br", False)):
        headers, body = get(ns, d.port, header)
        assert (headers.get("content-encoding") == "gzip") == gzipped, header
        assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert int(headers["content-length"]) == len(body)
        text = (gzip.decompress(body) if gzipped else body).decode()
        assert parse_exposition(text)[("nfacct_packets_total",
                                       frozenset({("name", "ipv4.gz")}))] == 0, header


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def plain_resets(port: int) -> None:
    for payload in (b"", b"GET /metrics HTTP/1.1\r\nHost: x\r\n",
                    b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"):
        for _ in range(RESETS):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            if payload:
                s.sendall(payload)
            time.sleep(0.01)
            reset(s)


def tls_resets(port: int, ctx: ssl.SSLContext) -> None:
    for _ in range(RESETS):  # a partial ClientHello, then RST: the handshake fails
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        time.sleep(0.01)
        reset(s)
    for payload in (b"", b"GET /metrics HTTP/1.1\r\nHost: x\r\n",
                    b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"):
        for _ in range(RESETS):  # handshake done, then RST with or without a request
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            if payload:
                tls.sendall(payload)
            time.sleep(0.01)
            raw = socket.socket(fileno=tls.detach())
            reset(raw)


def assert_quiet(d: Daemon, connections: int) -> None:
    time.sleep(0.5)  # the server threads see the resets
    out = d.output()
    assert "Traceback" not in out and "Exception" not in out, out
    noisy = [line for line in out.splitlines()
             if " level=debug " not in line and "listening on" not in line]
    assert not noisy, out  # nothing above debug level
    per_client = [line for line in out.splitlines() if " level=debug " in line
                  and ("reset" in line.lower() or "failed" in line or "error" in line.lower())]
    assert len(per_client) <= connections, out


def test_plain_client_resets_leave_no_traceback(ns, tmp_path) -> None:  # noqa: ANN001
    d = Daemon(ns, tmp_path, CONFIG, ("--log.level", "debug"))
    d.wait_until(lambda: get(ns, d.port, "identity"))
    ns.call(lambda: plain_resets(d.port))
    assert get(ns, d.port, "gzip")[0]["content-encoding"] == "gzip"  # still serving
    assert_quiet(d, 3 * RESETS)


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")
def test_tls_client_resets_leave_no_traceback(ns, tmp_path) -> None:  # noqa: ANN001
    certs = make_certs(tmp_path / "certs")
    (tmp_path / "web.yml").write_text("tls_server_config:\n  cert_file: certs/server.crt\n"
                                      "  key_file: certs/server.key\n")
    d = Daemon(ns, tmp_path, CONFIG, ("--log.level", "debug",
                                      "--web.config.file", str(tmp_path / "web.yml")))
    ctx = client_context(certs, None)
    d.wait_until(lambda: https_get(ns, d.port, ctx)[0] == 200)
    ns.call(lambda: tls_resets(d.port, ctx))
    assert https_get(ns, d.port, ctx)[0] == 200  # still serving
    assert_quiet(d, 4 * RESETS)
