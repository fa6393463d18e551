"""Delivery to carbon: a bounded backlog drained by one sender thread over one TCP connection.

What ulogd's GRAPHITE output and graphyte's sender lose, and how this avoids it:

* carbon refused, restarted or stopped: lines wait in the backlog (``backlog.Backlog``) and are
  sent in order with their own poll timestamps once carbon is back;
* data "sent" into a dead or black-holed connection: a poll stays in flight until the kernel
  says carbon's TCP acknowledged it (``SIOCOUTQ``) *and* the connection is still open
  ``REPLAY`` seconds later; otherwise it is sent again (carbon keeps the last value for a
  (path, timestamp), so a repeat is harmless);
* a stalled daemon: only this thread touches the network, with connect/send timeouts that
  measure lack of progress, and ``TCP_USER_TIMEOUT`` so a black hole errors out; ``submit``
  (called by the poller) only appends under a lock;
* connection churn and fd leaks: one persistent connection, checked for a half-close before each
  write, reopened with capped, jittered exponential backoff.

graphyte's sender cannot do this job (a connection per batch, errors logged and the data
dropped, a queue that drops the newest), so it is not used here; the tests use its line format
as the reference for ours.
"""

import collections
import contextlib
import fcntl
import itertools
import logging
import random
import select
import socket
import struct
import termios
import threading
import time

from nfacct_exporter.sinks.backlog import Backlog, Chunk, pack

log = logging.getLogger(__name__)

MAX_BATCH = 1 << 20  # bytes per write
BACKOFF_MIN = 0.5
BACKOFF_MAX = 15.0
REPLAY = 2.0  # seconds a written poll stays re-sendable after carbon acknowledged it
CHECK = 0.25  # seconds between acknowledgement checks while polls are in flight


class CarbonSender:
    """Owns the carbon connection; ``submit`` never blocks on the network."""

    def __init__(self, host: str, port: int, timeout: float, memcap: int) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.backlog = Backlog(memcap)
        self._cond = threading.Condition()
        self._sock: socket.socket | None = None
        self._retry_at = 0.0
        self._backoff = BACKOFF_MIN
        self._stopping = False
        self._halt = False
        self._thread = threading.Thread(target=self._run, name="carbon-sender", daemon=True)
        self.lines_sent = 0
        self._failures = 0  # in a row; only the first, then every 20th, is a warning
        self._drop_logged = -1e9
        self.connect_failures = 0
        self.send_failures = 0

    # --- read by self-metrics (plain attribute reads, no lock needed) ------------------------
    @property
    def memcap(self) -> int:
        return self.backlog.memcap

    @property
    def connected(self) -> bool:
        return self._sock is not None

    @property
    def backlog_bytes(self) -> int:
        """Bytes waiting to be written (in flight not included)."""
        return self.backlog.bytes - self.backlog.inflight_bytes

    @property
    def backlog_lines(self) -> int:
        return self.backlog.lines - self.backlog.inflight_lines

    @property
    def inflight_bytes(self) -> int:
        """Bytes written but kept until carbon's acknowledgement (and ``REPLAY`` s)."""
        return self.backlog.inflight_bytes

    @property
    def inflight_lines(self) -> int:
        return self.backlog.inflight_lines

    @property
    def lines_dropped(self) -> int:
        return self.backlog.dropped

    # --- called by the poller and the main thread ---------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def submit(self, data: bytes | list[bytes], lines: int | None = None) -> None:
        """Queue one poll's lines (bytes, or parts); past memcap the oldest polls are dropped."""
        chunk = Chunk.of(data, lines)  # ``lines`` of them, counted there if None
        if not chunk.size:
            return
        with self._cond:
            dropped = self.backlog.push(chunk)
            self._cond.notify()
        if dropped and time.monotonic() - self._drop_logged > 60:  # once a minute at most
            self._drop_logged = time.monotonic()
            log.warning("graphite: backlog over %d bytes: dropping the oldest polls (%d lines "
                        "so far)", self.backlog.memcap, self.backlog.dropped)

    def stop(self, grace: float = 5.0) -> None:
        """Flush for at most ``grace`` seconds (retrying at once, not after the backoff), close."""
        deadline = time.monotonic() + grace
        with self._cond:
            self._stopping = True
            self._retry_at = 0.0
            self._cond.notify_all()
            while (len(self.backlog) and self._thread.is_alive()
                   and time.monotonic() < deadline):
                self._cond.wait(min(0.05, max(0.0, deadline - time.monotonic())))
            self._halt = True
            self._cond.notify_all()
            left = self.backlog.lines
        sock = self._sock
        if sock is not None and left:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # unblock a send stuck on a black hole
        if self._thread.is_alive():
            self._thread.join(1.0)
        if not self._thread.is_alive():
            self._close()
        if left:
            log.warning("graphite: exiting with %d lines not delivered to %s:%s", left,
                        self.host, self.port)

    def hand_over(self, successor: "CarbonSender") -> None:
        """Reload: stop at once, without flushing, and give every undelivered poll (older than
        the successor's) to the sender replacing this one, so a reload during an outage loses
        nothing."""
        with self._cond:
            self._halt = True
            self._cond.notify_all()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread.is_alive():
            self._thread.join(self.timeout + 1)
        self._close()
        with self._cond:
            chunks = self.backlog.give_up()
        with successor._cond:
            successor.backlog.adopt(chunks)
            successor._cond.notify_all()
        if chunks:
            log.info("graphite: %d undelivered lines handed to the reloaded pipeline",
                     sum(c.lines for c in chunks))

    # --- sender thread -----------------------------------------------------------------------
    def _wait_time(self) -> float | None:
        now = time.monotonic()
        b = self.backlog
        if b.pending:
            if now >= self._retry_at:
                return 0.0
            return self._retry_at - now
        if b.inflight:
            return 0.02 if self._stopping else CHECK
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                wait = self._wait_time()
                if wait != 0.0 and not self._halt:
                    self._cond.wait(wait)
                if self._halt:
                    return
                due = bool(self.backlog.pending) and time.monotonic() >= self._retry_at
                to_pack = self.backlog.unpacked() if self._sock is None and not due else []
            if self._sock is not None and self.backlog.inflight:
                self._check()
            if due:
                self._send_some()
            for chunk in to_pack:
                data = pack(chunk)
                with self._cond:
                    self.backlog.packed(chunk, data)

    def _send_some(self) -> None:
        """Write the oldest pending polls (up to MAX_BATCH bytes), connecting first if needed."""
        try:
            sock = self._connection()
        except OSError as e:
            self.connect_failures += 1
            self._failed(f"cannot connect: {e}")
            return
        with self._cond:
            batch = self.backlog.take(MAX_BATCH, time.monotonic())
        if not batch:
            return
        try:
            self._write(sock, [part for c in batch for part in c.parts()])
        except OSError as e:
            self._lost(f"send failed: {e}")
            return
        now = time.monotonic()
        for c in batch:
            c.written_at = now

    def _write(self, sock: socket.socket, parts: list[bytes]) -> None:
        """Send every part by ``sendmsg``; the timeout per call measures lack of progress."""
        views = collections.deque(map(memoryview, parts))
        while views:
            n = sock.sendmsg(list(itertools.islice(views, 1024)))  # IOV_MAX
            while n and n >= len(views[0]):
                n -= len(views.popleft())
            if n:  # a part sent in part
                views[0] = views[0][n:]

    def _check(self) -> None:
        """Release in-flight polls carbon acknowledged; requeue them all if the peer is gone."""
        sock = self._sock
        assert sock is not None
        try:
            unacked = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ,
                                                     b"\0\0\0\0"))[0]
        except OSError as e:
            self._lost(f"connection error: {e}")
            return
        if self._peer_closed(sock):  # after the ioctl: a reset socket reports 0 unacked
            self._lost("carbon closed the connection")
            return
        horizon = float("inf") if self._stopping else time.monotonic() - REPLAY
        with self._cond:
            n = self.backlog.release(self.backlog.stream - unacked, horizon)
            if n:
                self.lines_sent += n
                self._backoff = BACKOFF_MIN
                self._cond.notify_all()

    def _connection(self) -> socket.socket:
        sock = self._sock
        if sock is not None and self._peer_closed(sock):
            self._lost("carbon closed the connection", backoff=False)
        if self._sock is None:
            sock = socket.create_connection((self.host, self.port), self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT,
                            max(1, int(self.timeout * 1000)))
            sock.settimeout(self.timeout)
            self._sock = sock
            log.log(logging.WARNING if self._failures else logging.INFO,
                    "graphite: connected to %s:%s%s", self.host, self.port,
                    f" after {self._failures} failed attempts" if self._failures else "")
            self._failures = 0
        return self._sock

    @staticmethod
    def _peer_closed(sock: socket.socket) -> bool:
        """Carbon never writes to us: readable means EOF or an error, i.e. half-closed or dead."""
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except OSError:
            return True

    def _lost(self, why: str, backoff: bool = True) -> None:
        """Close the connection; what was in flight goes back to the front of the backlog, and
        counts as a failed send (a reset, a hung or a vanished carbon)."""
        self._close()
        with self._cond:
            n = self.backlog.requeue()
        if n:
            self.send_failures += 1
            log.warning("graphite: %s:%s: %s; %d lines to send again", self.host, self.port, why, n)
            if backoff:
                self._failed(None)
        else:
            log.info("graphite: %s:%s: %s", self.host, self.port, why)

    def _failed(self, why: str | None) -> None:
        """Schedule the next attempt after a jittered, capped, exponential backoff."""
        delay = self._backoff * random.uniform(0.8, 1.2)
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)
        self._failures += 1
        if why:
            log.log(logging.WARNING if self._failures % 20 == 1 else logging.DEBUG,
                    "graphite: %s:%s: %s; retrying in %.1fs (%d lines waiting)", self.host,
                    self.port, why, delay, self.backlog.lines)
        with self._cond:  # while stopping, keep trying within the grace time
            self._retry_at = time.monotonic() + (min(delay, 0.2) if self._stopping else delay)

    def _close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
