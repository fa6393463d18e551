"""Interface index → name in one network namespace, as ulogd's IFINDEX plugin resolves them.

Names come from SIOCGIFNAME on a datagram socket opened once inside the namespace (a socket keeps
the namespace it was made in), cached; an unknown index is looked up again (a new interface), and
every entry is looked up again after ``ttl`` seconds (a renamed one). An index that no longer
exists gives "" (ulogd would repeat the last name it printed).
"""

import contextlib
import fcntl
import socket
import struct
import time

from nfacct_exporter.events.packet import text
from nfacct_exporter.netlink import netns as _netns

SIOCGIFNAME = 0x8910
_IFREQ = struct.Struct("16si20x")


class IfNames:
    """``names(index)`` → the interface's name ("" when there is none), for one namespace."""

    def __init__(self, netns: str | None = None, ttl: float = 10.0) -> None:
        with _netns.entered(netns):
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._ttl = ttl
        self._cache: dict[int, tuple[str, float]] = {}

    def __call__(self, index: int) -> str:
        hit = self._cache.get(index)
        now = time.monotonic()
        if hit is not None and now < hit[1]:
            return hit[0]
        name = self._lookup(index)
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[index] = (name, now + (self._ttl if name else 1.0))
        return name

    def _lookup(self, index: int) -> str:
        try:
            got = fcntl.ioctl(self._sock.fileno(), SIOCGIFNAME, _IFREQ.pack(b"", index))
        except OSError:
            return ""
        return text(got[:16].split(b"\0", 1)[0])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
