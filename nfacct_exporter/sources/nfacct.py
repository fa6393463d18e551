"""NFACCT source: one plain GET dump of every accounting object per poll (never GET_CTRZERO:
other readers share the counters, and reading must not clear the over-quota bit).

It also listens to the kernel's over-quota announcements (multicast group NFNLGRP_ACCT_QUOTA,
what ``nfacct monitor`` shows) on a second socket of the same namespace, drained at each poll, and
counts them per object in ``Reading.extra["over_quota_events"]``. Losing that socket (an overrun)
loses announcements, not counts: the reading stays good, the failure is logged once and counted
in ``Reading.extra["over_quota_events_errors"]``, and the next poll subscribes again.
"""

import contextlib
import logging

from nfacct_exporter.netlink import nfacct, nfacct_dumper
from nfacct_exporter.netlink.socket import NetfilterSocket
from nfacct_exporter.snapshot import Reading
from nfacct_exporter.sources.polled import PolledSource

log = logging.getLogger(__name__)


class NfacctSource(PolledSource):
    def __init__(self, netns: str | None = None, label: str | None = None) -> None:
        super().__init__("nfacct", nfacct_dumper.Dumper(), netns, label)
        self.events: NetfilterSocket | None = None
        self.over_quota_events: dict[str, int] = {}
        self.events_errors = 0

    def _subscribe(self) -> None:
        if self.events is None:
            events = NetfilterSocket(self.netns)
            try:
                events.subscribe(nfacct.NFNLGRP_ACCT_QUOTA)
                events.set_blocking(False)
            except OSError:
                events.close()
                raise
            self.events = events

    def _drain(self) -> None:
        """Count every over-quota announcement queued since the last poll, under the name the
        dump decoder gives the object (pyroute2 would give bytes for a name that is not UTF-8,
        which no dumped object would ever match)."""
        assert self.events is not None
        while True:
            try:
                data = bytes(self.events.recv())
            except BlockingIOError:
                return
            for name in nfacct.announced(data):
                self.over_quota_events[name] = self.over_quota_events.get(name, 0) + 1

    def open(self) -> None:
        super().open()
        self._subscribe()

    def _fetch(self) -> Reading:
        reading = super()._fetch()
        try:
            self._subscribe()
            self._drain()
        except OSError as e:
            self._close_events()
            if not self.events_errors:
                where = f" in network namespace {self.netns}" if self.netns else ""
                log.warning("nfacct: over-quota announcements%s lost: %s (counted in "
                            "nfacct_exporter_quota_events_errors_total from now on)", where,
                            e.strerror or e)
            self.events_errors += 1
        extra = {**reading.extra, "over_quota_events": dict(self.over_quota_events),
                 "over_quota_events_errors": self.events_errors}
        return Reading(reading.source, True, reading.duration, reading.records, extra=extra,
                       netns=reading.netns)

    def _close_events(self) -> None:
        if self.events is not None:
            with contextlib.suppress(OSError):
                self.events.close()
            self.events = None

    def _disconnect(self) -> None:
        super()._disconnect()
        self._close_events()
