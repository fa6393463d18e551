"""Test network namespaces: created per test, cleaned up (processes by PID, then the namespace)
even when the test fails. All test traffic stays on loopback inside them."""

import contextlib
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

from nfacct_exporter.netlink import netns as _netns
from tests.support.waiting import until

_ids = itertools.count()
PREFIX = "nfxt"
PYTHON = sys.executable  # not resolved: in a venv, the symlink is what finds its packages


def free_port() -> int:
    """Any high port below the ephemeral range (32768–60999): each test has its own namespace,
    so nothing else listens there, and a client's connect to it before the server listens can
    never land on its own ephemeral port (Linux's TCP self-connect)."""
    return random.randint(20000, 32767)


class Netns:
    def __init__(self) -> None:
        self.name = f"{PREFIX}-{os.getpid()}-{next(_ids)}"
        self.procs: list[subprocess.Popen] = []
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.sh("ip link set lo up")

    # --- commands ---------------------------------------------------------------------------
    def run(self, *argv: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], check=check,
                              capture_output=True, text=True, **kw)

    def sh(self, script: str, check: bool = True) -> str:
        r = self.run("sh", "-ec", script, check=False)
        if check and r.returncode:
            raise AssertionError(f"in {self.name}: {script!r} failed ({r.returncode}): "
                                 f"{r.stderr.strip()}")
        return r.stdout

    def popen(self, argv: list[str], **kw: Any) -> subprocess.Popen:
        """Start a process inside the namespace (``ip netns exec`` execs: same PID)."""
        p = subprocess.Popen(["ip", "netns", "exec", self.name, *argv], **kw)
        self.procs.append(p)
        return p

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on a fresh thread that entered the namespace (sockets it opens live there)."""
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                with _netns.entered(self.name):
                    box["value"] = fn()
            except BaseException as e:  # re-raised in the caller
                box["error"] = e

        t = threading.Thread(target=target)
        t.start()
        t.join()
        if "error" in box:
            raise box["error"]
        return box.get("value")

    # --- HTTP inside the namespace ---------------------------------------------------------
    def http(self, url: str, timeout: float = 5.0, **kw: Any) -> tuple[int, dict, bytes]:
        def get() -> tuple[int, dict, bytes]:
            req = urllib.request.Request(url, **kw)
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    return r.status, dict(r.headers), r.read()
            except urllib.error.HTTPError as e:
                return e.code, dict(e.headers), e.read()
        return self.call(get)

    def get_json(self, url: str) -> Any:
        status, _, body = self.http(url)
        assert status == 200, (url, status, body[:300])
        return json.loads(body)

    # --- traffic on loopback ------------------------------------------------------------------
    def udp(self, host: str, port: int, payload: bytes, count: int = 1) -> None:
        """Send ``count`` UDP datagrams to host:port inside the namespace."""
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET

        def send() -> None:
            with socket.socket(fam, socket.SOCK_DGRAM) as s:
                for _ in range(count):
                    s.sendto(payload, (host, port))
        self.call(send)

    def wait_port(self, port: int, host: str = "127.0.0.1", timeout: float = 15.0) -> None:
        def probe() -> bool:
            try:
                socket.create_connection((host, port), 0.2).close()
                return True
            except OSError:
                return False
        until(lambda: self.call(probe), timeout, f"a listener on {host}:{port} in {self.name}",
              0.05)

    # --- cleanup --------------------------------------------------------------------------------
    def close(self) -> None:
        for p in self.procs:
            stop(p)
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)


def stop(p: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM by PID, then SIGKILL; always reaps."""
    if p.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def exporter_argv(config_path: str, listen: str) -> list[str]:
    return [sys.executable, "-m", "nfacct_exporter", "--config", config_path,
            "--web.listen-address", listen]
