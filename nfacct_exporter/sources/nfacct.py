"""NFACCT source: one plain GET dump of every accounting object per poll."""

import logging
import time

from nfacct_exporter.netlink import nfacct
from nfacct_exporter.netlink.socket import NetfilterSocket
from nfacct_exporter.snapshot import Reading

log = logging.getLogger(__name__)


class NfacctSource:
    """Reads NFACCT objects of one namespace; the socket is (re)opened on the poller thread."""

    name = "nfacct"

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self.sock: NetfilterSocket | None = None

    def open(self) -> None:
        """Open the socket and read once, so a missing capability fails at startup."""
        self.sock = NetfilterSocket(self.netns)
        nfacct.dump(self.sock)

    def read(self) -> Reading:
        start = time.perf_counter()
        try:
            if self.sock is None:
                self.sock = NetfilterSocket(self.netns)
            objects = nfacct.dump(self.sock)
        except OSError as e:
            self.close()
            log.warning("nfacct: dump failed: %s", e)
            return Reading(self.name, False, time.perf_counter() - start, error=str(e))
        return Reading(self.name, True, time.perf_counter() - start, tuple(objects))

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
