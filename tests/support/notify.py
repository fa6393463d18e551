"""A datagram socket standing in for systemd's NOTIFY_SOCKET."""

import os
import socket
import time
from pathlib import Path

from tests.support.netns import Netns, free_port


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
