"""Hostile and crowded HTTP clients, each driven by one selector loop (call them inside a test
namespace with ``Netns.call``): raw requests, many simultaneous scrapes, and a crowd of idle or
byte-per-second connections that reopens what the server closes."""

import contextlib
import selectors
import socket
import time
from dataclasses import dataclass, field

GET = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"


def raw(port: int, payload: bytes, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Send ``payload``; what came back (until close or ``timeout``) and whether it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        with contextlib.suppress(OSError):  # the server answered and closed before the end
            s.sendall(payload)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except TimeoutError:
            return data, False
        except ConnectionResetError:
            pass
        return data, True


def status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def scrape_all(port: int, n: int, timeout: float = 10.0) -> list[int]:
    """``n`` GET /metrics at the same moment: all connect, all send, then all read."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=timeout) for _ in range(n)]
    for s in socks:
        s.sendall(GET.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    sel = selectors.DefaultSelector()
    got: dict[socket.socket, bytes] = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        got[s] = b""
    deadline = time.monotonic() + timeout
    while sel.get_map() and time.monotonic() < deadline:
        for key, _ in sel.select(0.5):
            chunk = key.fileobj.recv(65536)
            got[key.fileobj] += chunk
            if not chunk:
                sel.unregister(key.fileobj)
    for s in socks:
        s.close()
    return [status(v) for v in got.values()]


@dataclass
class Crowd:
    """``n`` connections to ``port``, reopened (on the next tick) when the server closes them.
    Every ``slow``-th sends one byte of ``payload`` a second, the others stay silent.
    ``connect_times`` are the seconds each connect took until established."""

    port: int
    n: int
    payload: bytes = GET
    slow: int = 2
    connect_times: list[float] = field(default_factory=list)
    closed_by_server: int = 0

    def run(self, seconds: float) -> None:
        sel = selectors.DefaultSelector()
        want = list(range(self.n))  # slots to (re)open
        end = time.monotonic() + seconds
        next_tick = 0.0
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + 1.0
                for slot in want:
                    self._open(sel, slot, now)
                want = []
                for key in list(sel.get_map().values()):
                    self._trickle(sel, key, want)
            for key, _ in sel.select(0.1):
                slot, started, sent = key.data
                if started is not None:  # connected (or refused)
                    err = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    self.connect_times.append(time.monotonic() - started if not err else 1e9)
                    sel.modify(key.fileobj, selectors.EVENT_READ, (slot, None, sent))
                    continue
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.closed_by_server += 1
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                    want.append(slot)
        for key in list(sel.get_map().values()):
            key.fileobj.close()

    def _open(self, sel: selectors.BaseSelector, slot: int, now: float) -> None:
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", self.port))
        sel.register(s, selectors.EVENT_WRITE, (slot, now, 0))

    def _trickle(self, sel: selectors.BaseSelector, key: selectors.SelectorKey,
                 want: list[int]) -> None:
        slot, started, sent = key.data
        if started is not None or slot % self.slow:
            return
        try:
            key.fileobj.send(self.payload[sent % len(self.payload):][:1])
        except OSError:
            sel.unregister(key.fileobj)
            key.fileobj.close()
            want.append(slot)
            return
        sel.modify(key.fileobj, selectors.EVENT_READ, (slot, None, sent + 1))
