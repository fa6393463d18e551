"""Follow a network namespace that may be missing, deleted, or replaced under the same name.

A socket left in a deleted namespace would keep reading that dead namespace forever, so every
poll looks at the namespace's path first: when its inode changed, what was open is closed and
opened again in the namespace the path names now; when it is missing, the reading fails and
the next polls try again. Each cause of failure is logged once, and the recovery once.
"""

import logging
import os
import time
from collections.abc import Callable

from nfacct_exporter.netlink import netns as _netns
from nfacct_exporter.snapshot import Reading
from nfacct_exporter.sources import Source

log = logging.getLogger(__name__)


class Following:
    """A source in namespace ``netns`` (None = the daemon's own, which is never replaced).

    Subclasses say how to connect (open sockets in ``netns``), fetch a reading and disconnect;
    this class decides when: ``read`` (re)connects as needed and turns OSError into a failed
    reading.
    """

    def __init__(self, name: str, netns: str | None, label: str | None) -> None:
        self.name = name
        self.netns = netns
        self.label = label
        self._connected = False
        self._inode: int | None = None
        self._vanished = 0  # polls that found the namespace's path missing
        self._failing = ""  # why the last reading failed ("": it did not)

    def _connect(self) -> None:
        raise NotImplementedError

    def _fetch(self) -> Reading:
        raise NotImplementedError

    def _disconnect(self) -> None:
        """Close whatever is open; called after a partial connect too."""
        raise NotImplementedError

    @property
    def instance(self) -> tuple[int | None, int]:
        """Which instance of the namespace is read: the inode alone is not enough (a namespace
        made after the old one was freed gets its inode number again), so a path seen missing
        in between makes another instance."""
        return self._inode, self._vanished

    def _ns_inode(self) -> int | None:
        if not self.netns:
            return None
        try:
            return os.stat(_netns.netns_path(self.netns)).st_ino
        except FileNotFoundError:
            self._vanished += 1
            raise

    def _attach(self, inode: int | None) -> None:
        self._inode = inode
        try:
            self._connect()
        except OSError:
            self._disconnect()
            raise
        self._connected = True

    def open(self) -> None:
        """Connect now and let the kernel's refusal through (start-up fails on it); later polls
        reconnect as needed."""
        self._attach(self._ns_inode())

    def read(self) -> Reading:
        start = time.perf_counter()
        try:
            inode = self._ns_inode()
            if self._connected and inode != self._inode:
                log.warning("%s: network namespace %s was replaced; reopening", self.name,
                            self.netns)
                self.close()
            if not self._connected:
                self._attach(inode)
            reading = self._fetch()
        except OSError as e:
            self.close()
            why = str(e.strerror or e)
            if why != self._failing:  # once per cause: a vanished namespace, then a held group
                where = f" in network namespace {self.netns}" if self.netns else ""
                log.warning("%s: read failed%s: %s (retrying every poll)", self.name, where,
                            why)
            self._failing = why
            return Reading(self.name, False, time.perf_counter() - start, error=str(e),
                           netns=self.label)
        if self._failing:
            log.info("%s: reading %s again", self.name, self.netns or "own namespace")
            self._failing = ""
        return reading

    def close(self) -> None:
        self._connected = False
        self._disconnect()


class Reopening(Following):
    """A listening source (NFLOG) made afresh by ``make()`` in each instance of ``netns``: a
    dead namespace never holds groups, and a new one starts counting from zero."""

    def __init__(self, name: str, make: Callable[[], Source], netns: str,
                 label: str | None) -> None:
        super().__init__(name, netns, label)
        self.make = make
        self.inner: Source | None = None

    def _connect(self) -> None:
        self.inner = self.make()
        self.inner.open()

    def _fetch(self) -> Reading:
        assert self.inner is not None
        return self.inner.read()

    def _disconnect(self) -> None:
        if self.inner is not None:
            self.inner.close()
            self.inner = None
