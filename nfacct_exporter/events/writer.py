"""The bounded queue between the NFLOG listener and one output, and the thread that writes.

``submit`` (listener thread) only appends the raw datagram to a queue, or counts its packets as
dropped when the queue already holds ``capacity`` events: counting never waits for events.
The writer thread renders the datagrams to lines, writes them in batches and keeps any line
the output did not take (disk full, consumer gone) to retry with backoff, so an outage shorter
than the queue loses nothing. Every event is either written or counted as dropped, per group:

* ``queue_full``: the output is up but slower than the traffic;
* ``write_error``: the output fails (disk full, permission, I/O error) while the queue is full;
* ``disconnected``: the socket consumer is gone while the queue is full;
* ``decode_error``: a datagram that could not be rendered (a bug: logged).

Each outage is logged once when it starts and once when it ends, never per packet.
"""

import collections
import logging
import threading
import time
from typing import Protocol

from nfacct_exporter.events.json_format import EventFormat
from nfacct_exporter.events.outputs import WriteError

log = logging.getLogger(__name__)

CAPACITY = 131072  # events queued per output: ~1.3 s at 100k/s, at most ~30 MB of datagrams
BATCH_BYTES = 256 * 1024
CHECK_EVERY = 0.05  # seconds between checks of the output (moved file, closed peer)
BACKOFF_MIN, BACKOFF_MAX = 0.1, 5.0
REASONS = ("queue_full", "write_error", "disconnected", "decode_error")
Key = tuple[str | None, int]  # (netns label, group)


class Output(Protocol):
    name: str

    def open(self) -> None: ...
    def is_open(self) -> bool: ...
    def check(self) -> None: ...
    def reopen(self) -> None: ...
    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...


class EventWriter:
    """Queue + writer thread for one output, shared by the groups that log to it."""

    def __init__(self, output: Output, capacity: int = CAPACITY) -> None:
        self.output = output
        self.capacity = capacity
        self.written: dict[Key, int] = {}  # (netns label, group) → events written
        self.dropped: dict[tuple[Key, str], int] = {}  # ((netns label, group), reason) → events
        self._queue: collections.deque = collections.deque()  # (format, data, packets, now)
        self._queued_in = 0  # events ever queued (listener thread only)
        self._queued_out = 0  # events ever taken out of the queue (writer thread only)
        self._pending: collections.deque = collections.deque()  # (key, lines, n) not written
        self._pending_lines = 0
        self._lock = threading.Lock()  # guards the two counter dicts (read by the poller)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._reopen = threading.Event()
        self._failure: str | None = None  # reason while the output fails, None when it works
        self._dropping = False
        self._grace = 2.0  # seconds ``stop`` gives the writer to empty the queue
        self._thread: threading.Thread | None = None

    # --- listener thread -------------------------------------------------------------------------
    def submit(self, fmt: EventFormat, data: bytes, packets: int, now: float) -> None:
        """Queue one NFLOG datagram holding ``packets`` packets of ``fmt``'s group; never blocks."""
        if self._queued_in - self._queued_out + packets > self.capacity:
            self._drop(fmt.key, self._failure or "queue_full", packets)
            return
        self._queued_in += packets
        self._queue.append((fmt, data, packets, now))
        self._wake.set()

    def _drop(self, key: Key, reason: str, n: int) -> None:
        with self._lock:
            k = (key, reason)
            self.dropped[k] = self.dropped.get(k, 0) + n
        if not self._dropping:
            self._dropping = True
            log.warning("events: %s: dropping events (%s); counted in "
                        "nflog_events_dropped_total", self.output.name, reason)

    # --- any thread ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="nflog-events", daemon=True)
        self._thread.start()

    def reopen(self) -> None:
        """Open the output again (SIGHUP: after a log rotation without copytruncate)."""
        self._reopen.set()
        self._wake.set()

    def stop(self, timeout: float = 2.0) -> None:
        """Write what is queued (for up to ``timeout`` s), then close the output; what could not
        be written by then is counted as dropped."""
        self._grace = timeout
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout + 1)
        reason = self._failure or "queue_full"
        while self._queue:
            fmt, _, packets, _ = self._queue.popleft()
            self._drop(fmt.key, reason, packets)
        for key, _, n in self._pending:
            self._drop(key, reason, n)
        self._pending.clear()
        self._pending_lines = 0
        self.output.close()

    def counters(self) -> tuple[dict[Key, int], dict[tuple[Key, str], int]]:
        with self._lock:
            return dict(self.written), dict(self.dropped)

    # --- writer thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = BACKOFF_MIN
        next_check = 0.0
        deadline: float | None = None
        while True:
            if self._stop.is_set():
                deadline = deadline or time.monotonic() + self._grace
                if (not self._queue and not self._pending) or time.monotonic() > deadline:
                    break
            elif not self._pending and not self._queue:
                self._wake.wait(CHECK_EVERY * 20)
                self._wake.clear()
            self._take()
            try:
                now = time.monotonic()
                if not self.output.is_open() or self._reopen.is_set():
                    self._reopen.clear()
                    self.output.open()
                    next_check = now + CHECK_EVERY
                elif now >= next_check:
                    self.output.check()
                    next_check = now + CHECK_EVERY
                if self._pending:
                    self._flush()
            except OSError as e:
                self._failed(e)
                if self._stop.wait(backoff):
                    deadline = time.monotonic()  # stopping while failing: give up now
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff = BACKOFF_MIN
            self._recovered()

    def _take(self) -> None:
        """Render queued datagrams into pending lines (one chunk per datagram), up to about
        4096 lines."""
        while self._queue and self._pending_lines < 4096:
            fmt, data, packets, now = self._queue.popleft()
            self._queued_out += packets
            try:
                chunk, n = fmt.render(data, now)
            except Exception:
                log.exception("events: group %d: cannot render a datagram", fmt.group)
                self._drop(fmt.key, "decode_error", packets)
                continue
            if n:
                self._pending.append((fmt.key, chunk, n))
                self._pending_lines += n

    def _flush(self) -> None:
        """Write pending lines in batches; raise OSError (the unwritten lines stay pending)."""
        pending = self._pending
        while pending:
            batch, size = [], 0
            for item in pending:
                batch.append(item)
                size += len(item[1])
                if size >= BATCH_BYTES:
                    break
            try:
                self.output.write(batch[0][1] if len(batch) == 1 else
                                  b"".join(chunk for _, chunk, _ in batch))
            except WriteError as e:  # ``done`` bytes made it: always whole lines
                done, written = e.done, []
                for key, chunk, n in batch:
                    if done < len(chunk):
                        if done:
                            k = chunk.count(b"\n", 0, done)
                            pending[0] = (key, chunk[done:], n - k)
                            written.append((key, b"", k))
                        break
                    written.append(pending.popleft())
                    done -= len(chunk)
                self._count_written(written)
                raise
            for _ in batch:
                pending.popleft()
            self._count_written(batch)

    def _count_written(self, batch: list[tuple[Key, bytes, int]]) -> None:
        with self._lock:
            for key, _, n in batch:
                self.written[key] = self.written.get(key, 0) + n
                self._pending_lines -= n

    def _failed(self, e: OSError) -> None:
        reason = "disconnected" if self.output.name.startswith("socket") else "write_error"
        if self._failure is None:
            log.warning("events: %s: %s; events are kept in the queue (%d), then dropped and "
                        "counted until it works again", self.output.name, e, self.capacity)
        self._failure = reason

    def _recovered(self) -> None:
        if self._failure is not None:
            log.info("events: %s: writing again", self.output.name)
            self._failure = None
        if self._dropping and not self._queue:
            self._dropping = False
            log.info("events: %s: caught up; no longer dropping events", self.output.name)
