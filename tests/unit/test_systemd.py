"""The notify protocol's small parts: socket addresses, WATCHDOG_PID, and pings from the poll
loop (a wedged poller must go quiet so systemd restarts it)."""

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from nfacct_exporter.poller import Poller
from nfacct_exporter.snapshot import Reading
from nfacct_exporter.systemd import Notifier, socket_address


def test_socket_addresses() -> None:
    assert socket_address("@foo/bar") == b"\0foo/bar"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert not Notifier({}).enabled
    assert not Notifier({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled  # not ours to speak


def test_a_failed_notify_names_the_socket_it_was_given(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/the-environment-of-the-process")
    given = str(tmp_path / "nobody-listens.sock")
    assert not Notifier({"NOTIFY_SOCKET": given}).notify("READY=1")
    assert given in caplog.text and "the-environment-of-the-process" not in caplog.text


def test_watchdog_only_when_meant_for_us(tmp_path) -> None:  # noqa: ANN001
    path = str(tmp_path / "n.sock")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    rx.settimeout(0.3)
    try:
        Notifier({"NOTIFY_SOCKET": path}).watchdog()  # no WatchdogSec: nothing sent
        Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "5000000",
                  "WATCHDOG_PID": str(os.getpid() + 1)}).watchdog()  # another process's
        n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "5000000",
                      "WATCHDOG_PID": str(os.getpid())})
        n.watchdog()
        assert rx.recv(100) == b"WATCHDOG=1"
        n.fit_watchdog(2_000_000)  # shorter than configured: keep the unit's
        n.fit_watchdog(9_000_000)
        assert rx.recv(100) == b"WATCHDOG_USEC=9000000"
        n.fit_watchdog(1_000_000)  # back to the unit's value
        assert rx.recv(100) == b"WATCHDOG_USEC=5000000"
        n.stopping()
        assert rx.recv(100) == b"STOPPING=1\nSTATUS=shutting down"
    finally:
        rx.close()


def test_wedged_poller_stops_the_pings(tmp_path) -> None:  # noqa: ANN001
    """The pings come from the poll loop itself: a source that hangs silences them."""
    class Source:
        name = "stuck"
        gate = threading.Event()

        def read(self) -> Reading:
            self.gate.wait()
            return Reading(self.name, True, 0.0, ())

        def close(self) -> None:
            self.gate.set()

    path = tmp_path / "notify.sock"
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(str(path))
    rx.settimeout(0.5)
    source = Source()
    source.gate.set()
    poller = Poller([source], [], 0.05)
    poller.heartbeat = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1000000"}).watchdog
    poller.start()
    try:
        assert rx.recv(100) == b"WATCHDOG=1"
        source.gate.clear()  # the next read hangs, as a wedged netlink dump would
        time.sleep(0.2)
        rx.setblocking(False)
        while True:  # what was sent before it wedged
            try:
                rx.recv(100)
            except BlockingIOError:
                break
        rx.settimeout(0.5)
        with pytest.raises(TimeoutError):
            rx.recv(100)  # 10 poll intervals without a ping
        source.gate.set()
        assert rx.recv(100) == b"WATCHDOG=1"  # and it resumes once unstuck
    finally:
        poller.stop()
        rx.close()
