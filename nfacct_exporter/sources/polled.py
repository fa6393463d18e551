"""A source read by one netlink dump per poll, in one network namespace that it follows.

NFACCT objects and nft named counters are both read this way: the socket is opened inside the
namespace (``netlink.netns``) and reused from poll to poll. A dumper that counts the malformed
messages it skipped (an ``errors`` attribute: ``netlink.nfacct_dumper.Dumper``,
``netlink.nft.Dumper``) has that count in ``Reading.extra["decode_errors"]``.
"""

import time
from collections.abc import Callable
from typing import Any

from nfacct_exporter.netlink.socket import NetfilterSocket
from nfacct_exporter.snapshot import Reading
from nfacct_exporter.sources.following import Following


class PolledSource(Following):
    """``dump(sock)`` once per ``read()``; ``netns`` None = the daemon's own namespace."""

    def __init__(self, name: str, dump: Callable[[NetfilterSocket], list[Any]],
                 netns: str | None = None, label: str | None = None) -> None:
        super().__init__(name, netns, label)
        self.dump = dump
        self.sock: NetfilterSocket | None = None

    def open(self) -> None:
        """Open the socket and read once, so a missing capability fails at startup."""
        super().open()
        assert self.sock is not None
        self.dump(self.sock)

    def _connect(self) -> None:
        self.sock = NetfilterSocket(self.netns)

    def _fetch(self) -> Reading:
        assert self.sock is not None
        start = time.perf_counter()
        records = self.dump(self.sock)
        # the namespace instance read, for delta mode: a replaced one's objects count from 0
        extra = {"netns_instance": self.instance}
        errors = getattr(self.dump, "errors", None)
        if errors is not None:
            extra["decode_errors"] = errors
        return Reading(self.name, True, time.perf_counter() - start, tuple(records), extra=extra,
                       netns=self.label)

    def _disconnect(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
