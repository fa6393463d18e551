"""A source read by one netlink dump per poll, in one network namespace.

NFACCT objects and nft named counters are both read this way. The socket is opened inside the
namespace (``netlink.netns``) and reused; if the namespace is deleted, or deleted and created
again under the same name, the next poll notices (the path's inode changed or vanished), reports
the failure, and reopens once the namespace is back. A socket left in a deleted namespace would
otherwise keep reading that dead namespace's counters forever.
"""

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from nfacct_exporter.netlink import netns as _netns
from nfacct_exporter.netlink.socket import NetfilterSocket
from nfacct_exporter.snapshot import Reading

log = logging.getLogger(__name__)


class PolledSource:
    """``dump(sock)`` once per ``read()``; ``netns`` None = the daemon's own namespace."""

    def __init__(self, name: str, dump: Callable[[NetfilterSocket], list[Any]],
                 netns: str | None = None, label: str | None = None) -> None:
        self.name = name
        self.dump = dump
        self.netns = netns
        self.label = label  # the netns label value, None when only one namespace is read
        self.sock: NetfilterSocket | None = None
        self._inode: int | None = None
        self._vanished = 0  # polls that found the namespace's path missing
        self._failing = False

    def _ns_inode(self) -> int | None:
        if not self.netns:
            return None
        try:
            return os.stat(_netns.netns_path(self.netns)).st_ino
        except FileNotFoundError:
            self._vanished += 1
            raise

    def open(self) -> None:
        """Open the socket and read once, so a missing capability fails at startup."""
        self._inode = self._ns_inode()
        self.sock = NetfilterSocket(self.netns)
        self.dump(self.sock)

    def read(self) -> Reading:
        start = time.perf_counter()
        try:
            inode = self._ns_inode()
            if self.sock is not None and inode != self._inode:
                log.warning("%s: network namespace %s was replaced; reopening",
                            self.name, self.netns)
                self.close()
            if self.sock is None:
                self._inode = inode
                self.sock = NetfilterSocket(self.netns)
            records = self.dump(self.sock)
        except OSError as e:
            self.close()
            if not self._failing:
                where = f" in network namespace {self.netns}" if self.netns else ""
                log.warning("%s: read failed%s: %s (retrying every poll)", self.name, where,
                            e.strerror or e)
            self._failing = True
            return Reading(self.name, False, time.perf_counter() - start, error=str(e),
                           netns=self.label)
        if self._failing:
            log.info("%s: reading %s again", self.name, self.netns or "own namespace")
            self._failing = False
        # which namespace instance was read, for delta mode (a replaced one's objects count from
        # 0): the inode alone is not enough, a namespace made after the old one was freed gets
        # the old inode number again, so a path seen missing in between makes another instance
        return Reading(self.name, True, time.perf_counter() - start, tuple(records),
                       extra={"netns_instance": (self._inode, self._vanished)}, netns=self.label)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
