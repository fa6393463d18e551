"""NFACCT source: one plain GET dump of every accounting object per poll (never GET_CTRZERO:
other readers share the counters, and reading must not clear the over-quota bit).

It also listens to the kernel's over-quota announcements (multicast group NFNLGRP_ACCT_QUOTA,
what ``nfacct monitor`` shows) on a second socket of the same namespace, drained at each poll, and
counts them per object in ``Reading.extra["over_quota_events"]``.
"""

import contextlib
import struct
from typing import Any

from pyroute2.netlink.nfnetlink import NFNLGRP_ACCT_QUOTA

from nfacct_exporter.netlink import messages, nfacct
from nfacct_exporter.netlink.socket import SOL_NETLINK, NetfilterSocket
from nfacct_exporter.snapshot import Reading
from nfacct_exporter.sources.polled import PolledSource

NETLINK_ADD_MEMBERSHIP = 1
_HDR = struct.Struct("=IH")


class NfacctSource(PolledSource):
    def __init__(self, netns: str | None = None, label: str | None = None) -> None:
        super().__init__("nfacct", nfacct.dump, netns, label)
        self.events: NetfilterSocket | None = None
        self.over_quota_events: dict[str, int] = {}

    def _subscribe(self) -> None:
        if self.events is None:
            events = NetfilterSocket(self.netns)
            events.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_ACCT_QUOTA)
            events.sock.setblocking(False)
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
            off = 0
            while off + 16 <= len(data):
                length, mtype = _HDR.unpack_from(data, off)
                if length < 16:
                    break
                # this socket sends no requests: everything on it is an announcement (kernel
                # 6.18 tags them ACCT_NEW, not ACCT_OVERQUOTA, as measured here)
                if mtype in (messages.ACCT_OVERQUOTA, messages.ACCT_NEW):
                    obj = nfacct._decode_generic(data, off, min(length, len(data) - off))
                    if obj is not None:
                        name = obj.name
                        self.over_quota_events[name] = self.over_quota_events.get(name, 0) + 1
                off += (length + 3) & ~3

    def open(self) -> None:
        super().open()
        self._subscribe()

    def read(self) -> Reading:
        reading = super().read()
        if not reading.ok:
            self._close_events()
            return reading
        try:
            self._subscribe()
            self._drain()
        except OSError as e:  # an overrun loses announcements, not counts: keep the reading
            self._close_events()
            extra: dict[str, Any] = {**reading.extra, "over_quota_events_error": str(e)}
        else:
            extra = dict(reading.extra)
        extra["over_quota_events"] = dict(self.over_quota_events)
        return Reading(reading.source, True, reading.duration, reading.records,
                       extra=extra, netns=reading.netns)

    def _close_events(self) -> None:
        if self.events is not None:
            with contextlib.suppress(OSError):
                self.events.close()
            self.events = None

    def close(self) -> None:
        super().close()
        self._close_events()

