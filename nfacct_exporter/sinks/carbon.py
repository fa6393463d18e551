"""Delivery to carbon: a bounded in-memory backlog drained by one sender thread.

What ulogd's GRAPHITE output and graphyte's sender lack, measured here: a lost or refused
connection no longer drops data (lines wait in the backlog, sent in order with their own poll
timestamps), a black-holed carbon never blocks polling or scrapes (only this thread waits, with
timeouts), one persistent connection is reused across polls (no fd leak, no connection per batch),
a half-closed socket is detected before writing, reconnects back off exponentially (capped), and
past ``backlog_memcap`` the oldest polls are dropped and counted.

graphyte provides the connection parameters and message format (``graphyte.Sender``); its own
send path (a new connection per batch, drop on error) is replaced by ``send_message`` below.
"""

import collections
import logging
import select
import socket
import threading
import time

import graphyte

log = logging.getLogger(__name__)

MAX_BATCH = 1 << 20  # bytes per sendall
BACKOFF_MIN = 0.2
BACKOFF_MAX = 30.0


class CarbonSender(graphyte.Sender):
    """Owns the carbon connection; ``submit`` never blocks."""

    def __init__(self, host: str, port: int, timeout: float, memcap: int) -> None:
        super().__init__(host, port, timeout=timeout, raise_send_errors=True)
        self.memcap = memcap
        self._backlog: collections.deque[bytes] = collections.deque()
        self._cond = threading.Condition()
        self._sock: socket.socket | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="carbon-sender", daemon=True)
        # self-metrics
        self.backlog_bytes = 0
        self.backlog_lines = 0
        self.lines_sent = 0
        self.lines_dropped = 0
        self.connect_failures = 0
        self.send_failures = 0
        self.connected = False

    def start(self) -> None:
        self._thread.start()

    def submit(self, chunk: bytes) -> None:
        """Queue one poll's lines; drop the oldest polls beyond ``memcap`` and count them."""
        if not chunk:
            return
        with self._cond:
            self._backlog.append(chunk)
            self.backlog_bytes += len(chunk)
            self.backlog_lines += chunk.count(b"\n")
            while self.backlog_bytes > self.memcap and self._backlog:
                old = self._backlog.popleft()
                n = old.count(b"\n")
                self.backlog_bytes -= len(old)
                self.backlog_lines -= n
                self.lines_dropped += n
                log.warning("graphite: backlog over %d bytes, dropped %d oldest lines",
                            self.memcap, n)
            self._cond.notify()

    def stop(self, grace: float = 5.0) -> None:
        """Try to flush the backlog for up to ``grace`` seconds, then close."""
        deadline = time.monotonic() + grace
        with self._cond:
            while self._backlog and time.monotonic() < deadline and self._thread.is_alive():
                self._cond.wait(0.05)
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(max(0.0, deadline - time.monotonic()) + 0.1)
        self._close()

    # --- sender thread ---------------------------------------------------------------------

    def _run(self) -> None:
        backoff = BACKOFF_MIN
        while True:
            with self._cond:
                while not self._backlog and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                batch = self._take()
            try:
                self.send_socket(batch)
            except OSError as e:
                self._close()
                log.warning("graphite: %s:%s: %s; retrying in %.1fs", self.host, self.port, e,
                            backoff)
                with self._cond:
                    self._cond.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff = BACKOFF_MIN
            self._done(batch)

    def _take(self) -> bytes:
        """Join queued polls (oldest first) up to MAX_BATCH bytes, without removing them."""
        parts, size = [], 0
        for chunk in self._backlog:
            if parts and size + len(chunk) > MAX_BATCH:
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)

    def _done(self, batch: bytes) -> None:
        """Remove what was sent from the backlog (unless it was dropped meanwhile)."""
        with self._cond:
            size = len(batch)
            while size > 0 and self._backlog:
                head = self._backlog[0]
                if len(head) > size or not batch.startswith(head):
                    break
                batch = batch[len(head):]
                size -= len(head)
                self._backlog.popleft()
                n = head.count(b"\n")
                self.backlog_bytes -= len(head)
                self.backlog_lines -= n
                self.lines_sent += n
            self._cond.notify_all()

    def send_message(self, message: bytes) -> None:
        """graphyte hook: write on the persistent connection (opened on demand)."""
        sock = self._connection()
        try:
            sock.sendall(message)
        except OSError:
            self.send_failures += 1
            raise

    def send_socket(self, message: bytes) -> None:
        # graphyte's version logs and swallows errors; ours must see them to keep the backlog.
        self.send_message(message)

    def _connection(self) -> socket.socket:
        if self._sock is not None and self._peer_closed(self._sock):
            log.info("graphite: carbon closed the connection; reconnecting")
            self._close()
        if self._sock is None:
            try:
                sock = socket.create_connection((self.host, self.port), self.timeout)
            except OSError:
                self.connect_failures += 1
                raise
            sock.settimeout(self.timeout)
            self._sock = sock
            self.connected = True
            log.info("graphite: connected to %s:%s", self.host, self.port)
        return self._sock

    @staticmethod
    def _peer_closed(sock: socket.socket) -> bool:
        """Carbon never writes to us: readable means EOF or an error, i.e. half-closed."""
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return False
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except OSError:
            return True

    def _close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self.connected = False
