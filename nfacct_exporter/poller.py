"""The poll loop: every ``pollinterval``, read every source into one Snapshot and publish it.

One thread owns all sources (and so all netlink sockets). Polls follow a fixed monotonic schedule
(``next += interval``); a poll that overruns skips the missed ticks instead of bunching up.
"""

import logging
import threading
import time
from collections.abc import Callable, Sequence

from nfacct_exporter.snapshot import Reading, Snapshot
from nfacct_exporter.sources import Source

log = logging.getLogger(__name__)


class Poller:
    def __init__(self, sources: Sequence[Source], publish: Sequence[Callable[[Snapshot], None]],
                 interval: float) -> None:
        self.sources = list(sources)
        self.publish = list(publish)
        self.interval = interval
        self.last: Snapshot | None = None
        self.errors: dict[tuple[str, str | None], int] = {}  # (source, netns label) → failed polls
        self.heartbeat: Callable[[], None] | None = None  # e.g. the systemd watchdog
        self._seq = 0
        self._raised: dict[Source, str] = {}  # sources whose read() raised: the last error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="poller", daemon=True)

    def poll_once(self) -> Snapshot:
        start = time.perf_counter()
        now = time.time()
        readings = {}
        for source in self.sources:
            try:
                reading = source.read()
            except Exception as e:  # a source bug must not stop polling (nor wedge /metrics)
                error = f"{type(e).__name__}: {e}"
                if self._raised.get(source) != error:  # a traceback once, not every poll
                    log.exception("%s: read failed", source.name)
                self._raised[source] = error
                reading = Reading(source.name, False, 0.0, error=error,
                                  netns=source.label)
            else:
                self._raised.pop(source, None)
            key = (reading.source, reading.netns)
            self.errors[key] = self.errors.get(key, 0) + (not reading.ok)
            readings[reading.source if reading.netns is None
                     else f"{reading.source}@{reading.netns}"] = reading
        self._seq += 1
        snapshot = Snapshot(self._seq, now, time.perf_counter() - start, readings)
        for publish in self.publish:
            try:
                publish(snapshot)
            except Exception:  # a sink bug must not stop polling
                log.exception("publishing poll %d failed", snapshot.seq)
        self.last = snapshot
        if self.heartbeat:
            self.heartbeat()
        return snapshot

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        for source in self.sources:
            source.close()

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            next_at += self.interval
            self.poll_once()
            now = time.monotonic()
            if now > next_at:  # overran: skip ticks, keep the phase
                next_at += ((now - next_at) // self.interval + 1) * self.interval
            self._stop.wait(next_at - now)
