"""A listening source (NFLOG) in a namespace that may not exist yet, or may be replaced.

For namespaces other than the primary one, a failure to open is not fatal: the source reports a
failed reading each poll and tries again; when the namespace is deleted or replaced (the path's
inode changes) its sockets are closed, so a dead namespace never holds groups or is read.
The primary namespace, when ``netns:`` names one, is wrapped too but opened at start-up
(``open()``: a refusal is fatal there), so it follows its namespace in the same way.
"""

import logging
import os
import time
from collections.abc import Callable

from nfacct_exporter.netlink import netns as _netns
from nfacct_exporter.snapshot import Reading
from nfacct_exporter.sources import Source

log = logging.getLogger(__name__)


class Reopening:
    def __init__(self, name: str, make: Callable[[], Source], netns: str,
                 label: str | None) -> None:
        self.name = name
        self.make = make
        self.netns = netns
        self.label = label
        self.inner: Source | None = None
        self._inode: int | None = None
        self._failing = False

    def open(self) -> None:
        """Open now and let the kernel's refusal through (the primary namespace: start-up
        fails); later polls reopen it as for any other namespace."""
        inode = os.stat(_netns.netns_path(self.netns)).st_ino
        inner = self.make()
        inner.open()  # type: ignore[attr-defined]
        self.inner, self._inode = inner, inode

    def read(self) -> Reading:
        start = time.perf_counter()
        try:
            inode = os.stat(_netns.netns_path(self.netns)).st_ino
            if self.inner is not None and inode != self._inode:
                log.warning("%s: network namespace %s was replaced; reopening", self.name,
                            self.netns)
                self.close()
            if self.inner is None:
                inner = self.make()
                inner.open()  # type: ignore[attr-defined]
                self.inner, self._inode = inner, inode
                if self._failing:
                    log.info("%s: reading %s again", self.name, self.netns)
                self._failing = False
        except OSError as e:
            self.close()
            if not self._failing:
                log.warning("%s: cannot read network namespace %s: %s (retrying every poll)",
                            self.name, self.netns, e.strerror or e)
            self._failing = True
            return Reading(self.name, False, time.perf_counter() - start, error=str(e),
                           netns=self.label)
        return self.inner.read()

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()
            self.inner = None
