"""The event writers of one pipeline: one per output, shared by every group (in any namespace)
that names it, started and stopped with the pipeline, re-opened on SIGHUP."""

import threading

from nfacct_exporter.config.events import Events
from nfacct_exporter.events.outputs import output_for
from nfacct_exporter.events.writer import EventWriter


class EventHub:
    def __init__(self) -> None:
        self._writers: dict[tuple[str, str], EventWriter] = {}
        self._lock = threading.Lock()
        self._started = False

    def writer(self, ev: Events) -> EventWriter:
        """The writer of ``ev``'s output (created, and started if the hub runs, on first use)."""
        with self._lock:
            w = self._writers.get(ev.target())
            if w is None:
                w = self._writers[ev.target()] = EventWriter(
                    output_for(ev.file, ev.stdout, ev.socket))
                if self._started:
                    w.start()
            return w

    def start(self) -> None:
        with self._lock:
            self._started = True
            for w in self._writers.values():
                w.start()

    def reopen(self) -> None:
        """Open every file again (after logrotate without copytruncate) and reconnect."""
        with self._lock:
            for w in self._writers.values():
                w.reopen()

    def stop(self) -> None:
        """Write what is queued (bounded), then close the outputs."""
        with self._lock:
            writers, self._started = list(self._writers.values()), False
        for w in writers:
            w.stop()
