"""The web config in force (re-read when its files change, so certificates rotate without a
restart) and the TLS handshake, stepped without blocking so that the server's loop drives any
number of handshakes at once (each under the server's time limit).
"""

import logging
import os
import selectors
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


def wrap(sock: socket.socket, web: WebConfig) -> ssl.SSLSocket:
    """Server-side TLS over a non-blocking socket; ``handshake_step`` drives the handshake."""
    assert web.tls is not None
    return web.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)


def handshake_step(conn: ssl.SSLSocket) -> int:
    """Advance the handshake: 0 once done, else the selector event it waits for.
    Raises OSError (ssl.SSLError, resets) if it failed."""
    try:
        conn.do_handshake()
    except ssl.SSLWantReadError:
        return selectors.EVENT_READ
    except ssl.SSLWantWriteError:
        return selectors.EVENT_WRITE
    return 0


def allowed(conn: ssl.SSLSocket, web: WebConfig, peer: str) -> bool:
    """client_allowed_sans, once the handshake is done (refusals are logged)."""
    if web.allowed_sans and not web.san_allowed(conn.getpeercert() or {}):
        log.info("TLS client %s: certificate has none of client_allowed_sans", peer)
        return False
    return True
