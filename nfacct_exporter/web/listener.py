"""The listening socket (dual-stack ``:PORT``, the system's full backlog), the connection cap
that keeps the process below its open files limit, and warnings logged once per episode.
"""

import logging
import math
import resource
import socket

log = logging.getLogger("nfacct_exporter.web.server")

FD_RESERVE = 64  # descriptors kept for everything else: netlink sockets, carbon, files


def listen(host: str, port: int) -> socket.socket:
    """A bound, listening socket; ``host`` "" means every address, IPv6 and IPv4 together
    (IPv4 only where there is no IPv6)."""
    if host == "":
        try:
            return _bind(socket.AF_INET6, "::", port, dual=True)
        except OSError:
            return _bind(socket.AF_INET, "0.0.0.0", port, dual=False)
    return _bind(socket.AF_INET6 if ":" in host else socket.AF_INET, host, port, dual=False)


def _bind(family: socket.AddressFamily, host: str, port: int, dual: bool) -> socket.socket:
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if dual:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind((host, port))
        s.listen(max(128, socket.SOMAXCONN))  # the kernel caps it at net.core.somaxconn
    except BaseException:
        s.close()
        raise
    return s


def connection_cap() -> int:
    """How many client connections fit under RLIMIT_NOFILE, leaving ``FD_RESERVE`` (or a
    quarter of a small limit) to the rest of the daemon."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    return max(1, soft - min(FD_RESERVE, soft // 4))


class Once:
    """A warning logged once per episode: again only after ``quiet`` seconds without one."""

    def __init__(self, quiet: float = 60.0) -> None:
        self.quiet = quiet
        self.last = -math.inf

    def warn(self, now: float, msg: str, *args: object) -> None:
        if now - self.last > self.quiet:
            log.warning(msg, *args)
        self.last = now
