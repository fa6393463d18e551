"""The real daemon against hostile HTTP clients: malformed and oversized requests get 4xx and a
close, 200 simultaneous scrapes all get 200, ``--web.max-requests`` answers 503 beyond its limit,
header deadlines hold against byte-per-second clients (plain and TLS), and running out of file
descriptors is one warning while scrapes still get in. Never a traceback."""

import shutil
import socket
import threading
import time

import pytest

from nfacct_exporter.netlink import nfacct
from nfacct_exporter.netlink.socket import NetfilterSocket
from nfacct_exporter.web.app import App, Response
from nfacct_exporter.web.server import MetricsServer
from tests.support.daemon import Daemon
from tests.support.hostile import GET, raw, scrape_all, status
from tests.support.netns import free_port
from tests.support.tls import bcrypt_hash, client_context, https_get, make_certs

CONFIG = "pollinterval: 0.5\n"
needs_openssl = pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")


def quiet(d: Daemon, allowed: tuple[str, ...] = ()) -> list[str]:
    """The log lines above debug other than start-up and ``allowed``; no traceback anywhere."""
    out = d.output()
    assert "Traceback" not in out, out
    return [line for line in out.splitlines() if " level=debug " not in line
            and "listening on" not in line and not any(a in line for a in allowed)]


def test_malformed_and_oversized_requests(ns, tmp_path) -> None:  # noqa: ANN001
    d = Daemon(ns, tmp_path, CONFIG).ready()
    cases = [
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)), 400, True),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414, True),
        (b"GET /metrics HTTP/1.1\r\n" + b"X-Big: " + b"b" * 70000 + b"\r\n\r\n", 431, True),
        (b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431, True),
        (b"GET /metrics\r\n\r\n", 400, True),
        (b"GET /metrics HTTP/2.0\r\n\r\n", 505, True),
        (b"BREW /metrics HTTP/1.1\r\nConnection: close\r\n\r\n", 405, True),
        (b"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n", 404, True),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 405, True),
        (GET + GET.replace(b"HTTP/1.1", b"HTTP/1.0"), 200, True),  # pipelined, then 1.0: close
    ]
    for payload, expected, closed in cases:
        data, was_closed = ns.call(lambda p=payload: raw(d.port, p))
        assert (status(data), was_closed) == (expected, closed), (payload[:40], data[:200])
    head, _ = ns.call(lambda: raw(d.port, b"HEAD /metrics HTTP/1.0\r\n\r\n"))
    assert status(head) == 200 and head.endswith(b"\r\n\r\n") and b"Content-Length: " in head
    assert d.text()
    assert quiet(d) == []


def test_200_scrapes_at_once(ns, tmp_path) -> None:  # noqa: ANN001
    ns.run("nfacct", "add", "ipv4.crowd")
    d = Daemon(ns, tmp_path, CONFIG).ready()
    statuses = ns.call(lambda: scrape_all(d.port, 200))
    assert statuses == [200] * 200
    assert quiet(d) == []


def test_max_requests_answers_503_beyond_the_limit(ns, tmp_path) -> None:  # noqa: ANN001
    """With --web.max-requests=1, a request waiting for its bcrypt check (cost 14: about a
    second) is in progress; another request meanwhile gets 503 at once, later its 401."""
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  u: '{bcrypt_hash('pw', 14)}'\n")
    d = Daemon(ns, tmp_path, CONFIG, ("--web.config.file", str(tmp_path / "web.yml"),
                                      "--web.max-requests", "1"))
    d.wait_until(lambda: d.ns.http(d.url + "/metrics", timeout=1)[0] == 401)
    wrong = b"GET /metrics HTTP/1.1\r\nAuthorization: Basic dTp3cm9uZw==\r\n"  # u:wrong
    wrong += b"Connection: close\r\n\r\n"
    slow: dict[str, object] = {}
    t = threading.Thread(target=lambda: slow.update(r=ns.call(lambda: raw(d.port, wrong, 20))))
    t.start()
    time.sleep(0.3)  # the loop has read it and handed it to the bcrypt worker
    started = time.monotonic()
    busy, closed = ns.call(lambda: raw(d.port, GET.replace(b"\r\n\r\n",
                                                           b"\r\nConnection: close\r\n\r\n")))
    assert status(busy) == 503 and closed and time.monotonic() - started < 0.5, busy
    t.join()
    assert status(slow["r"][0]) == 401  # type: ignore[index]
    assert ns.http(d.url + "/metrics")[0] == 401  # the slot is free again
    assert quiet(d) == []


def test_max_requests_counts_an_answer_a_slow_reader_holds(ns, tmp_path) -> None:  # noqa: ANN001
    """An answer that does not fit the socket buffers of a client that does not read is still
    in progress: with --web.max-requests=1, other requests get 503 until it is read."""
    names = [f"ipv4.big{i:05d}" for i in range(3000)]
    assert ns.call(lambda: nfacct.create(NetfilterSocket(), names)) == [0] * len(names)
    d = Daemon(ns, tmp_path, CONFIG, ("--web.max-requests", "1")).ready()

    def hold_then_read() -> tuple[list[int], int, int]:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # a small MSS: with loopback's 64 KiB one, the kernel would buffer megabytes for us
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
        s.connect(("127.0.0.1", d.port))
        s.sendall(GET.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        time.sleep(0.3)
        during = [status(raw(d.port, GET.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n"
                                                   b"\r\n"))[0]) for _ in range(3)]
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        return during, status(data), len(data)
    during, held, size = ns.call(hold_then_read)
    assert during == [503] * 3 and held == 200 and size > 200_000, (during, held, size)
    assert ns.http(d.url + "/metrics")[0] == 200
    assert quiet(d) == []


def trickle(sock: socket.socket, data: bytes, every: float) -> float:
    """Send ``data`` a byte at a time; the seconds until the server closed the connection."""
    started = time.monotonic()
    sock.settimeout(every)
    for i in range(len(data)):
        try:
            sock.send(data[i:i + 1])
            if sock.recv(1) == b"":
                break
        except TimeoutError:
            continue
        except OSError:
            break
    return time.monotonic() - started


@needs_openssl
def test_byte_per_second_clients_meet_the_header_deadline(ns, tmp_path) -> None:  # noqa: ANN001
    """A header trickled a byte every 0.5 s is cut 10 s after the request started, plain and
    over TLS (handshake done, then the trickle); a silent TLS client 10 s after connecting."""
    certs = make_certs(tmp_path / "certs")
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "web.yml").write_text(
        f"tls_server_config:\n  cert_file: {certs['server_crt']}\n"
        f"  key_file: {certs['server_key']}\n")
    plain = Daemon(ns, tmp_path, CONFIG).ready()
    secure = Daemon(ns, tmp_path / "tls", CONFIG,
                    ("--web.config.file", str(tmp_path / "tls" / "web.yml")))
    ctx = client_context(certs, None)
    secure.wait_until(lambda: https_get(ns, secure.port, ctx)[0] == 200)
    endless = b"GET /metrics HTTP/1.1\r\nX-Slow: " + b"a" * 100
    times: dict[str, float] = {}

    def run(name: str, fn) -> threading.Thread:  # noqa: ANN001
        t = threading.Thread(target=lambda: times.update({name: ns.call(fn)}))
        t.start()
        return t

    def over_tls() -> float:
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", secure.port)),
                             server_hostname="127.0.0.1") as s:
            return trickle(s, endless, 0.5)

    def silent_tls() -> float:
        with socket.create_connection(("127.0.0.1", secure.port)) as s:
            return trickle(s, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" * 10, 0.5)

    def plain_trickle() -> float:
        with socket.create_connection(("127.0.0.1", plain.port)) as s:
            return trickle(s, endless, 0.5)

    threads = [run("plain", plain_trickle), run("tls", over_tls), run("handshake", silent_tls)]
    for t in threads:
        t.join()
    assert all(9 < v < 12.5 for v in times.values()), times
    assert quiet(plain) == [] and quiet(secure) == []
    # plain HTTP on the TLS port: closed without an HTTP answer
    data, closed = ns.call(lambda: raw(secure.port, GET))
    assert closed and not data.startswith(b"HTTP/1.1 200"), data


def test_out_of_file_descriptors_is_one_warning(ns, tmp_path) -> None:  # noqa: ANN001
    """Limited to 28 open files (9 in use at start), 40 idle clients exhaust the descriptors:
    one warning, and every scrape still gets in, closing the oldest idle client."""
    d = Daemon(ns, tmp_path, CONFIG, prefix=("prlimit", "--nofile=28:28", "--")).ready()

    def crowd_then_scrape() -> list[int]:
        idle = [socket.create_connection(("127.0.0.1", d.port)) for _ in range(40)]
        try:
            time.sleep(0.5)
            return [scrape_all(d.port, 1)[0] for _ in range(5)]
        finally:
            for s in idle:
                s.close()
    assert ns.call(crowd_then_scrape) == [200] * 5
    warnings = quiet(d)
    assert len(warnings) == 1 and "cannot accept connections" in warnings[0], d.output()


def test_dual_stack_and_a_listening_socket_handed_over(ns) -> None:  # noqa: ANN001
    """``:PORT`` takes IPv6 and IPv4 on one socket; an already listening socket (as systemd
    passes one) is served as is."""
    ns.sh("ip -6 addr add ::1/128 dev lo nodad 2>/dev/null || true")
    page = App({"/": lambda req: Response(200, "text/plain", b"hi\n")})
    port = free_port()

    def both() -> list[int]:
        dual = MetricsServer("", port, page)
        given = socket.create_server(("127.0.0.1", port + 1))
        handed = MetricsServer("ignored", 0, page, listener=given)
        for server in (dual, handed):
            server.start()
        try:
            got = []
            for family, host, p in ((socket.AF_INET6, "::1", port), (socket.AF_INET,
                                    "127.0.0.1", port), (socket.AF_INET, "127.0.0.1", port + 1)):
                with socket.socket(family) as s:
                    s.settimeout(5)
                    s.connect((host, p))
                    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    got.append(status(s.recv(65536)))
            return got
        finally:
            for server in (dual, handed):
                server.shutdown()
                server.server_close()
    assert ns.call(both) == [200, 200, 200]
