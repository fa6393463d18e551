"""Helpers for the deployment tests: certificates (openssl CLI), bcrypt users, the daemon with
extra flags and environment, HTTPS from inside a namespace, and a test NOTIFY_SOCKET."""

import http.client
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bcrypt
from conftest import free_port, parse_exposition
from netns import Netns, exporter_argv

PYTHON = sys.executable  # not resolved: in a venv, the symlink is what finds its packages


def make_certs(d: Path) -> dict[str, Path]:
    """A CA, a server cert for 127.0.0.1 and a client cert (SAN DNS:prometheus), all by openssl."""
    d.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=nfxt test CA")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                      ("client", "subjectAltName=DNS:prometheus\nextendedKeyUsage=clientAuth"),
                      ("other", "subjectAltName=DNS:someone-else\nextendedKeyUsage=clientAuth")):
        (d / f"{name}.ext").write_text(ext + "\n")
        run("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")
    run("req", "-x509", *ec, "-keyout", "rogue.key", "-out", "rogue.crt", "-days", "2",
        "-subj", "/CN=rogue", "-addext", "subjectAltName=DNS:prometheus")  # not from our CA
    return {p.stem + p.suffix.replace(".", "_"): p for p in d.iterdir()}


def bcrypt_hash(password: str, rounds: int = 4) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


class Daemon:
    """The real exporter in ``ns`` with extra flags/environment; stopped by PID with ``ns``."""

    def __init__(self, ns: Netns, tmp: Path, config: str, args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, prefix: tuple[str, ...] = (),
                 listen: bool = True) -> None:
        self.ns = ns
        self.port = free_port()
        self.config = tmp / "config.yaml"
        self.config.write_text(config)
        self.log = tmp / "exporter.log"
        argv = exporter_argv(str(self.config), f"127.0.0.1:{self.port}")
        if not listen:
            argv = argv[:-2]
        full_env = {**os.environ, **(env or {})}
        self.proc = ns.popen([*prefix, *argv, *args], stdout=self.log.open("wb"),
                             stderr=subprocess.STDOUT, env=full_env)

    def output(self) -> str:
        return self.log.read_text()

    def wait_exit(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)

    def wait_until(self, probe: Any, timeout: float = 15.0) -> Any:
        """Call ``probe()`` until it returns something truthy (exceptions count as not yet)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            assert self.proc.poll() is None, f"exporter exited: {self.output()}"
            try:
                got = probe()
                if got:
                    return got
            except (OSError, AssertionError) as e:
                last = e
            assert time.monotonic() < deadline, f"timed out ({last!r}); log:\n{self.output()}"
            time.sleep(0.05)


def client_context(certs: dict[str, Path], client: str | None = "client") -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs["ca_crt"]))
    if client:
        ctx.load_cert_chain(str(certs[f"{client}_crt"]), str(certs[f"{client}_key"]))
    return ctx


def https_get(ns: Netns, port: int, ctx: ssl.SSLContext, path: str = "/metrics",
              auth: tuple[str, str] | None = None,
              timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """One HTTPS request from inside ``ns`` (Python's http.client over OpenSSL)."""
    import base64

    def get() -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=timeout)
        headers = {}
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(
                f"{auth[0]}:{auth[1]}".encode()).decode()
        try:
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            return r.status, dict(r.headers), r.read()
        finally:
            conn.close()
    return ns.call(get)


def samples(body: bytes) -> dict[tuple[str, frozenset], float]:
    return parse_exposition(body.decode())


class NotifySocket:
    """A datagram socket standing in for systemd's, bound inside ``ns`` (abstract unix names
    belong to a network namespace, so it must live where the daemon runs)."""

    def __init__(self, ns: Netns, tmp: Path, abstract: bool = True) -> None:
        name = f"nfxt-notify-{os.getpid()}-{free_port()}"
        self.env_value = f"@{name}" if abstract else str(tmp / f"{name}.sock")
        address: str | bytes = b"\0" + name.encode() if abstract else self.env_value

        def bind() -> socket.socket:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind(address)
            return s
        self.sock: socket.socket = ns.call(bind)
        self.messages: list[tuple[float, str]] = []  # (monotonic time, datagram)

    def wait_for(self, line: str, timeout: float = 15.0) -> float:
        """Read datagrams until one holds ``line``; the monotonic time it arrived."""
        for t, msg in self.messages:
            if line in msg.split("\n"):
                return t
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {line!r} on NOTIFY_SOCKET; got {self.messages}"
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            now = time.monotonic()
            self.messages.append((now, data.decode()))
            if line in data.decode().split("\n"):
                return now

    def drain(self, seconds: float) -> list[str]:
        """Collect every datagram for ``seconds``."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                break
            self.messages.append((time.monotonic(), data.decode()))
        return [m for _, m in self.messages]

    def close(self) -> None:
        self.sock.close()
