"""systemd's notify protocol (``Type=notify``): READY, RELOADING, STOPPING, STATUS, WATCHDOG.

A few lines instead of a dependency: one datagram per message to the AF_UNIX socket named by
``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace). Without that variable (not
started by systemd) every call is a no-op, so the daemon runs the same in a shell.
"""

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


def socket_address(value: str) -> str | bytes:
    """``$NOTIFY_SOCKET`` → an address for ``sendto``: ``@x`` is the abstract name ``\\0x``."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


class Notifier:
    """Sends state changes to systemd; ``watchdog()`` is safe to call from any thread."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address: str | bytes | None = None
        value = self.socket_name = env.get("NOTIFY_SOCKET", "")  # as given, for log lines
        if value.startswith(("/", "@")):
            self.address = socket_address(value)
        elif value:
            log.warning("NOTIFY_SOCKET=%r: only unix socket paths and @abstract names are "
                        "supported; not notifying systemd", value)
        self.configured_usec = _watchdog_usec(env)  # the unit's WatchdogSec=, 0 = none
        self.watchdog_usec = self.configured_usec
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=value`` lines as one datagram; False if not sent (logged, never raised)."""
        if self.address is None:
            return False
        data = "\n".join(fields).encode()
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX,
                                               socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.sendto(data, self.address)
                return True
            except OSError as e:
                log.warning("cannot notify systemd at %s: %s", self.socket_name, e)
                return False

    def ready(self, status: str) -> None:
        self.notify("READY=1", f"STATUS={status}")

    def reloading(self) -> None:
        # MONOTONIC_USEC lets Type=notify-reload (systemd ≥ 253) match this to the reload request
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.notify("RELOADING=1", f"MONOTONIC_USEC={now_usec}", "STATUS=reloading")

    def stopping(self) -> None:
        self.notify("STOPPING=1", "STATUS=shutting down")

    def watchdog(self) -> None:
        """One keep-alive; sent only when the unit has WatchdogSec= (systemd sets WATCHDOG_USEC)."""
        if self.watchdog_usec:
            self.notify("WATCHDOG=1")

    def fit_watchdog(self, min_usec: int) -> None:
        """Make the watchdog timeout at least ``min_usec`` (``WATCHDOG_USEC=``, this run only).

        Pings come once per poll, so a ``pollinterval`` longer than the unit's ``WatchdogSec=``
        would get a healthy daemon killed. Never shorter than what the unit configured.
        """
        if not self.configured_usec:
            return
        usec = max(self.configured_usec, min_usec)
        if usec != self.watchdog_usec and self.notify(f"WATCHDOG_USEC={usec}"):
            log.info("watchdog timeout set to %gs to fit the poll interval", usec / 1e6)
            self.watchdog_usec = usec

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def _watchdog_usec(env: Mapping[str, str]) -> int:
    """WATCHDOG_USEC, if it is meant for this process (WATCHDOG_PID unset or ours)."""
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
        pid = env.get("WATCHDOG_PID")
        if pid is not None and int(pid) != os.getpid():
            return 0
    except ValueError:
        return 0
    return max(usec, 0)


SD_LISTEN_FDS_START = 3


def listen_sockets(environ: Mapping[str, str] | None = None) -> list[socket.socket]:
    """The listening sockets systemd passed (socket activation: ``LISTEN_FDS`` fds from fd 3,
    meant for us when ``LISTEN_PID`` is our pid); [] when there are none."""
    env = os.environ if environ is None else environ
    try:
        if int(env.get("LISTEN_PID", "0")) != os.getpid():
            return []
        count = int(env.get("LISTEN_FDS", "0"))
    except ValueError:
        return []
    socks = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + max(count, 0)):
        os.set_inheritable(fd, False)
        socks.append(socket.socket(fileno=fd))
    return socks
