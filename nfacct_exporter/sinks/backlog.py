"""The Graphite backlog: polls' lines waiting for carbon, oldest first, bounded in bytes.

Plain data structure, not thread-safe (``carbon.CarbonSender`` guards it with its lock), so the
delivery rules can be tested without sockets:

* ``pending`` holds polls not yet written on the current connection; ``inflight`` holds polls
  written but not yet known to be delivered, with their end offset in the connection's byte
  stream. When the connection is lost, ``requeue`` puts ``inflight`` back in front of
  ``pending``: delivery is at-least-once and in order. Carbon keeps the last value written for
  a (path, timestamp), so a repeated line is harmless, while a lost one is gone for good.
* ``memcap`` bounds the bytes held (pending + in flight). Past it the oldest pending polls are
  dropped whole and counted; the newest poll is always kept.
* Polls that wait while carbon is away are stored zlib-compressed (``pack``): graphite lines
  compress ~5x, so the same memcap covers ~5x more outage.
"""

import collections
import time
import zlib
from dataclasses import dataclass, field


@dataclass(eq=False)
class Chunk:
    """One poll's lines: the parts its line makers wrote (sent as they are, by one
    ``sendmsg``: no megabyte-sized buffer per poll), or one zlib-compressed bytes when
    ``packed``."""

    data: tuple[bytes, ...] | bytes
    lines: int
    size: int  # uncompressed bytes, as written on the wire
    queued: float = field(default_factory=time.time)
    packed: bool = False
    dropped: bool = False
    written_at: float = 0.0  # monotonic time of the write (in flight only)

    @classmethod
    def of(cls, data: bytes | list[bytes], lines: int | None = None) -> "Chunk":
        """A poll's text; ``lines`` when its maker knows them (counting costs ~0.4 ms a MB)."""
        parts = (data,) if isinstance(data, bytes) else tuple(p for p in data if p)
        return cls(parts, sum(p.count(b"\n") for p in parts) if lines is None else lines,
                   sum(map(len, parts)))

    @property
    def held(self) -> int:
        """Bytes this poll holds in memory."""
        return len(self.data) if isinstance(self.data, bytes) else self.size

    def parts(self) -> tuple[bytes, ...]:
        data = self.data
        return (zlib.decompress(data),) if isinstance(data, bytes) else data

    def raw(self) -> bytes:
        return b"".join(self.parts())


class Backlog:
    def __init__(self, memcap: int) -> None:
        self.memcap = memcap
        self.pending: collections.deque[Chunk] = collections.deque()
        self.inflight: collections.deque[tuple[int, Chunk]] = collections.deque()
        self.stream = 0  # bytes handed to the current connection
        self.bytes = 0  # bytes held in memory (pending + in flight, compressed where packed)
        self.lines = 0
        self.inflight_bytes = 0
        self.inflight_lines = 0
        self.dropped = 0  # lines dropped over memcap, ever

    def __len__(self) -> int:
        return len(self.pending) + len(self.inflight)

    def oldest(self) -> float | None:
        """Wall time the oldest undelivered poll was queued."""
        if self.inflight:
            return self.inflight[0][1].queued
        return self.pending[0].queued if self.pending else None

    def push(self, chunk: Chunk) -> int:
        """Queue a poll; return the lines dropped to stay under memcap."""
        self.pending.append(chunk)
        self.bytes += chunk.held
        self.lines += chunk.lines
        return self.trim()

    def trim(self) -> int:
        dropped = 0
        while self.bytes > self.memcap and len(self.pending) > 1:
            old = self.pending.popleft()
            old.dropped = True
            self.bytes -= old.held
            self.lines -= old.lines
            dropped += old.lines
        self.dropped += dropped
        return dropped

    def take(self, max_bytes: int, now: float) -> list[Chunk]:
        """Move the oldest pending polls (at least one, up to ``max_bytes``) to in flight."""
        out: list[Chunk] = []
        size = 0
        while self.pending and (not out or size + self.pending[0].size <= max_bytes):
            c = self.pending.popleft()
            size += c.size
            self.stream += c.size
            c.written_at = now
            self.inflight.append((self.stream, c))
            self.inflight_bytes += c.held
            self.inflight_lines += c.lines
            out.append(c)
        return out

    def release(self, acked: int, written_before: float) -> int:
        """Forget in-flight polls the peer acknowledged and written before ``written_before``;
        return their line count."""
        n = 0
        while self.inflight:
            end, c = self.inflight[0]
            if end > acked or c.written_at > written_before:
                break
            self.inflight.popleft()
            self.bytes -= c.held
            self.lines -= c.lines
            self.inflight_bytes -= c.held
            self.inflight_lines -= c.lines
            n += c.lines
        return n

    def requeue(self) -> int:
        """The connection is gone: in-flight polls go back in front, in order. Returns how many
        lines were put back (and trims to memcap)."""
        n = 0
        for _, c in reversed(self.inflight):
            c.written_at = 0.0
            n += c.lines
            self.pending.appendleft(c)
        self.inflight.clear()
        self.inflight_bytes = self.inflight_lines = 0
        self.stream = 0
        self.trim()
        return n

    def adopt(self, chunks: list[Chunk]) -> None:
        """Older polls (a reload's predecessor's) go in front of ours, then trim."""
        for c in reversed(chunks):
            c.written_at = 0.0
            self.pending.appendleft(c)
            self.bytes += c.held
            self.lines += c.lines
        self.trim()

    def give_up(self) -> list[Chunk]:
        """Everything undelivered (in flight first), emptied out of this backlog."""
        self.requeue()
        out = list(self.pending)
        self.pending.clear()
        self.bytes = self.lines = 0
        return out

    def unpacked(self) -> list[Chunk]:
        return [c for c in self.pending if not c.packed]

    def packed(self, chunk: Chunk, data: bytes) -> None:
        """Swap in the compressed form made outside the lock, unless dropped or sent since."""
        if chunk.dropped or chunk.packed or chunk.written_at:
            return
        self.bytes += len(data) - chunk.held
        chunk.data, chunk.packed = data, True


def pack(chunk: Chunk) -> bytes:
    return zlib.compress(chunk.raw(), 1)
