"""The web config in force (re-read when its files change, so certificates rotate without a
restart) and the TLS handshake, run on the connection's own thread with a time limit.

prometheus_client's server handshakes in its accept loop, so one client that connects and stays
silent stalls every other scrape; here it holds only its own thread, and only so long.
"""

import logging
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

from nfacct_exporter.config import ConfigError
from nfacct_exporter.config.web import WebConfig, load
from nfacct_exporter.web.auth import Users

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Active:
    """A web config with its basic auth checker, built once so its success cache lasts."""

    config: WebConfig
    users: Users | None

    @classmethod
    def of(cls, config: WebConfig) -> "Active":
        return cls(config, Users(config.users) if config.users else None)


PLAIN = Active.of(WebConfig())


class WebConfigSource:
    """The current web config; re-read when the file or a certificate it names changes.

    ``current()`` runs for every connection and costs a few ``stat`` calls at most once a second.
    A broken new version is logged once and the last good one stays in force.
    """

    def __init__(self, config: WebConfig, log: Any) -> None:
        self.log = log
        self._active = Active.of(config)
        self._stamp = _stamp(config.files)
        self._checked = time.monotonic()
        self._failed_stamp: tuple | None = None
        self._lock = threading.RLock()

    @property
    def config(self) -> WebConfig:
        return self._active.config

    def current(self) -> Active:
        now = time.monotonic()
        if now - self._checked < 1.0 or self.config.path is None:
            return self._active
        with self._lock:
            if now - self._checked < 1.0:
                return self._active
            self._checked = now
            stamp = _stamp(self.config.files)
            if stamp != self._stamp and stamp != self._failed_stamp:
                try:
                    self.replace(load(self.config.path))
                    self.log.info("web config %s changed: re-read", self.config.path)
                except ConfigError as e:
                    self._failed_stamp = stamp
                    self.log.error("web config changed but is invalid, keeping the previous "
                                   "one: %s", str(e).replace("\n", "; "))
            return self._active

    def replace(self, config: WebConfig) -> None:
        with self._lock:
            self._active = Active.of(config)
            self._stamp = _stamp(config.files)
            self._failed_stamp = None


def _stamp(files: tuple[str, ...]) -> tuple:
    out = []
    for f in files:
        try:
            st = os.stat(f)
            out.append((st.st_ino, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def handshake(sock: socket.socket, web: WebConfig, peer: str) -> ssl.SSLSocket | None:
    """The server side of the handshake, then client_allowed_sans; None (logged) if refused."""
    assert web.tls is not None
    sock.settimeout(HANDSHAKE_TIMEOUT)
    try:
        conn = web.tls.wrap_socket(sock, server_side=True)
    except OSError as e:  # ssl.SSLError, resets and timeouts alike
        log.debug("TLS handshake with %s failed: %s", peer, e)
        return None
    if web.allowed_sans and not web.san_allowed(conn.getpeercert() or {}):
        log.info("TLS client %s: certificate has none of client_allowed_sans", peer)
        conn.close()
        return None
    return conn
