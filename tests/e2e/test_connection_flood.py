"""More hostile connections than file descriptors, for 40 s: two real daemons (plain and TLS),
each limited to 1,024 open files, each facing 1,050 idle or byte-per-second connections opened
in a burst and reopened whenever the server closes them, while a normal scrape comes every
second. Connects stay quick, scrapes stay under a second, threads stay few, the log stays quiet.
"""

import os
import shutil
import threading
import time

import pytest

from tests.support.daemon import Daemon
from tests.support.hostile import Crowd
from tests.support.tls import client_context, https_get, make_certs

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")

SECONDS = 40
CROWD = 1050
CONFIG = "pollinterval: 1\n"
LIMIT = ("prlimit", "--nofile=1024:1024", "--")
CLIENT_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(200))


def threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))


def test_a_thousand_hostile_connections_do_not_stop_scrapes(ns, tmp_path) -> None:  # noqa: ANN001
    ns.run("nfacct", "add", "ipv4.flood")
    certs = make_certs(tmp_path / "certs")
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "web.yml").write_text(
        f"tls_server_config:\n  cert_file: {certs['server_crt']}\n"
        f"  key_file: {certs['server_key']}\n")
    plain = Daemon(ns, tmp_path, CONFIG, prefix=LIMIT).ready()
    secure = Daemon(ns, tmp_path / "tls", CONFIG, ("--web.config.file",
                                                  str(tmp_path / "tls" / "web.yml")), prefix=LIMIT)
    ctx = client_context(certs, None)
    secure.wait_until(lambda: https_get(ns, secure.port, ctx)[0] == 200)
    crowds = {"plain": Crowd(plain.port, CROWD), "tls": Crowd(secure.port, CROWD, CLIENT_HELLO)}
    scrape = {"plain": lambda: ns.http(plain.url + "/metrics", timeout=5)[0],
              "tls": lambda: https_get(ns, secure.port, ctx, timeout=5)[0]}
    runners = [threading.Thread(target=lambda c=c: ns.call(lambda: c.run(SECONDS)))
               for c in crowds.values()]
    for t in runners:
        t.start()
    latencies: dict[str, list[float]] = {"plain": [], "tls": []}
    most_threads = most_fds = 0
    end = time.monotonic() + SECONDS
    while time.monotonic() < end:
        tick = time.monotonic()
        for name, get in scrape.items():
            t = time.monotonic()
            assert get() == 200, name
            latencies[name].append(time.monotonic() - t)
        for d in (plain, secure):
            most_threads = max(most_threads, threads(d.proc.pid))
            most_fds = max(most_fds, len(os.listdir(f"/proc/{d.proc.pid}/fd")))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    for t in runners:
        t.join()
    for name, crowd in crowds.items():
        connects = sorted(crowd.connect_times)
        print(f"{name}: {len(connects)} connects (median {connects[len(connects) // 2]:.4f} s, "
              f"max {connects[-1]:.3f} s), {crowd.closed_by_server} closed by the server; "
              f"scrapes: {len(latencies[name])}, max {max(latencies[name]) * 1000:.1f} ms, "
              f"median {sorted(latencies[name])[len(latencies[name]) // 2] * 1000:.1f} ms")
        assert len(connects) >= CROWD and connects[-1] < 3.0, name
        # each is closed within ~10 s (deadline) or sooner (to make room): three rounds in 40 s
        assert crowd.closed_by_server >= 3 * CROWD, name
        assert max(latencies[name]) < 1.0, (name, latencies[name])
    print(f"threads: at most {most_threads}; open files: at most {most_fds}")
    assert most_threads < 100 and most_fds < 1024
    for d in (plain, secure):
        out = d.output()
        assert "Traceback" not in out
        loud = [line for line in out.splitlines() if "listening on" not in line]
        assert len(loud) <= 1 and all("closing the oldest idle" in line for line in loud), out
