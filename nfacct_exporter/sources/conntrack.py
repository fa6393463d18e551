"""Conntrack statistics source: the entry count, the table limit and the per-CPU statistics of
one namespace, read over ctnetlink each poll (one ``ConntrackStats`` record).

A kernel without conntrack (or without ctnetlink) answers EINVAL or EOPNOTSUPP: that is not a
start-up error. The source says so once in the log and its readings fail (``up`` 0) until the
kernel answers.
"""

import errno

from nfacct_exporter.netlink import conntrack
from nfacct_exporter.netlink.socket import NetfilterSocket, NetlinkError
from nfacct_exporter.sources.polled import PolledSource

UNAVAILABLE = (errno.EINVAL, errno.EOPNOTSUPP, errno.EPROTONOSUPPORT, errno.ENOENT)
NOT_AVAILABLE = "conntrack statistics are not available (no conntrack/ctnetlink in the kernel)"


def read(sock: NetfilterSocket) -> list[conntrack.ConntrackStats]:
    """One poll's record; the kernel's 'no such subsystem' is turned into a plain sentence."""
    try:
        return [conntrack.read(sock)]
    except NetlinkError as e:
        if e.errno in UNAVAILABLE:
            raise NetlinkError(e.errno, NOT_AVAILABLE) from e
        raise


class ConntrackSource(PolledSource):
    def __init__(self, netns: str | None = None, label: str | None = None) -> None:
        super().__init__("conntrack", read, netns, label)

    def open(self) -> None:
        """Open the socket; conntrack missing is reported by ``read`` (once), never fatal."""
        try:
            super().open()
        except NetlinkError as e:
            if e.errno not in UNAVAILABLE:
                raise
