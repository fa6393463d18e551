"""SIGHUP reloads (good, broken, new listen address) and the systemd notify protocol, seen on a
test NOTIFY_SOCKET, with the real daemon in a namespace."""

import signal

from tests.support.daemon import Daemon
from tests.support.netns import free_port
from tests.support.notify import NotifySocket

GOOD = "pollinterval: 0.2\n"
LABELLED = """\
pollinterval: 0.2
labels:
  - match: '^(?P<family>ipv[46])\\.(?P<app>[^.]+)$'
"""
BROKEN = """\
pollinterval: 0.2
labels:
  - match: '^(?P<family>ipv[46]'
"""
RELOAD_OK = ("nfacct_exporter_config_last_reload_successful", frozenset())
RELOAD_TS = ("nfacct_exporter_config_last_reload_success_timestamp_seconds", frozenset())
LAST_POLL = ("nfacct_exporter_last_poll_timestamp_seconds", frozenset())
PLAIN = ("nfacct_packets_total", frozenset({("name", "ipv4.dns")}))
MAPPED = ("nfacct_packets_total",
          frozenset({("name", "ipv4.dns"), ("family", "ipv4"), ("app", "dns")}))


def scrape(ns, port: int) -> dict:  # noqa: ANN001
    from tests.support.exposition import parse_exposition
    status, _, body = ns.http(f"http://127.0.0.1:{port}/metrics", timeout=2)
    assert status == 200
    return parse_exposition(body.decode())


def test_sighup_good_then_broken_config(ns, tmp_path) -> None:  # noqa: ANN001
    ns.run("nfacct", "add", "ipv4.dns")
    d = Daemon(ns, tmp_path, GOOD)
    got = d.wait_until(lambda: scrape(ns, d.port))
    assert got[RELOAD_OK] == 1 and PLAIN in got
    started = got[RELOAD_TS]

    d.config.write_text(LABELLED)
    d.proc.send_signal(signal.SIGHUP)
    got = d.wait_until(lambda: (s := scrape(ns, d.port)).get(MAPPED) is not None and s)
    assert PLAIN not in got and got[RELOAD_OK] == 1 and got[RELOAD_TS] > started
    good_ts = got[RELOAD_TS]

    d.config.write_text(BROKEN)
    d.proc.send_signal(signal.SIGHUP)
    got = d.wait_until(lambda: (s := scrape(ns, d.port))[RELOAD_OK] == 0 and s)
    assert got[RELOAD_TS] == good_ts
    # the old configuration keeps running: labels still mapped, polls still coming
    polled = got[LAST_POLL]
    d.wait_until(lambda: (s := scrape(ns, d.port))[LAST_POLL] > polled and MAPPED in s)
    errors = [line for line in d.output().splitlines() if " level=error " in line]
    assert len(errors) == 1, d.output()
    assert "reload failed, keeping the running configuration" in errors[0]
    assert "config.yaml:3: key 'labels[0].match'" in errors[0]

    d.config.write_text(GOOD)
    d.proc.send_signal(signal.SIGHUP)
    got = d.wait_until(lambda: (s := scrape(ns, d.port))[RELOAD_OK] == 1 and PLAIN in s and s)
    assert got[RELOAD_TS] > good_ts
    d.proc.send_signal(signal.SIGTERM)
    assert d.wait_exit() == 0


def test_sighup_moves_the_listener(ns, tmp_path) -> None:  # noqa: ANN001
    """Without --web.listen-address, prometheus.listen is re-read too."""
    first, second = free_port(), free_port()
    d = Daemon(ns, tmp_path, f"{GOOD}prometheus:\n  listen: 127.0.0.1:{first}\n", listen=False)
    d.wait_until(lambda: scrape(ns, first))
    d.config.write_text(f"{GOOD}prometheus:\n  listen: 127.0.0.1:{second}\n")
    d.proc.send_signal(signal.SIGHUP)
    assert d.wait_until(lambda: scrape(ns, second))[RELOAD_OK] == 1
    d.wait_until(lambda: ns.sh(f"ss -Htln 'sport = :{first}'").strip() == "")


def test_notify_ready_watchdog_reloading_stopping(ns, tmp_path) -> None:  # noqa: ANN001
    ns.run("nfacct", "add", "ipv4.dns")
    sock = NotifySocket(ns, tmp_path, abstract=True)  # '@name': the abstract namespace
    try:
        d = Daemon(ns, tmp_path, GOOD, env={"NOTIFY_SOCKET": sock.env_value,
                                            "WATCHDOG_USEC": "30000000"})
        sock.wait_for("READY=1")
        # READY means: first poll done and listening, so a scrape right now has the counters
        got = scrape(ns, d.port)
        assert got[PLAIN] == 0 and got[("nfacct_up", frozenset())] == 1
        ready = next(m for _, m in sock.messages if "READY=1" in m)
        assert "STATUS=serving 127.0.0.1:" in ready
        # pings come from the poll loop, every pollinterval (0.2 s)
        before = sum("WATCHDOG=1" in m for m in sock.drain(0))
        pings = sum("WATCHDOG=1" in m for m in sock.drain(1.5)) - before
        assert 4 <= pings <= 12, sock.messages
        # 30 s covers 2 × 0.2 s + 10 s: no need to ask for a longer timeout
        assert not any("WATCHDOG_USEC=" in m for m in sock.drain(0))

        d.proc.send_signal(signal.SIGHUP)
        reloading = sock.wait_for("RELOADING=1")
        sock.messages.clear()
        assert sock.wait_for("READY=1") >= reloading
        d.proc.send_signal(signal.SIGTERM)
        sock.wait_for("STOPPING=1")
        assert d.wait_exit() == 0
    finally:
        sock.close()


def test_watchdog_timeout_fits_a_long_pollinterval(ns, tmp_path) -> None:  # noqa: ANN001
    """WatchdogSec=30 with pollinterval 20 would kill a healthy daemon: it asks for 2×20+10 s."""
    sock = NotifySocket(ns, tmp_path, abstract=False)  # a plain path this time
    try:
        Daemon(ns, tmp_path, "pollinterval: 20\n", env={"NOTIFY_SOCKET": sock.env_value,
                                                         "WATCHDOG_USEC": "30000000"})
        sock.wait_for("WATCHDOG_USEC=50000000")
        sock.wait_for("READY=1")
        assert sock.wait_for("WATCHDOG=1")  # the first poll pings too
    finally:
        sock.close()



def nflog_groups(s: dict) -> set[str]:
    return {dict(labels)["group"] for name, labels in s if name == "nflog_lost_packets_total"}


def test_sighup_with_nflog_groups_only_one_socket_may_hold(ns, tmp_path) -> None:  # noqa: ANN001
    """An NFLOG group can be bound by one socket only, so the new pipeline cannot be built beside
    the old one: the old one is stopped first, and rebuilt if the new one is refused."""
    d = Daemon(ns, tmp_path, "pollinterval: 0.2\nnflog:\n  - group: 41\n")
    assert nflog_groups(d.wait_until(lambda: scrape(ns, d.port))) == {"41"}
    d.config.write_text("pollinterval: 0.3\nnflog:\n  - group: 41\n")
    d.proc.send_signal(signal.SIGHUP)
    d.wait_until(lambda: "reload done" in d.output())
    got = scrape(ns, d.port)
    assert got[RELOAD_OK] == 1 and nflog_groups(got) == {"41"}, d.output()

    (tmp_path / "other").mkdir()
    other = Daemon(ns, tmp_path / "other", "pollinterval: 1\nnflog:\n  - group: 42\n")
    other.wait_until(lambda: scrape(ns, other.port))  # holds group 42 now
    d.config.write_text("pollinterval: 0.3\nnflog:\n  - group: 41\n  - group: 42\n")
    d.proc.send_signal(signal.SIGHUP)
    got = d.wait_until(lambda: (s := scrape(ns, d.port))[RELOAD_OK] == 0 and s)
    polled = got[LAST_POLL]
    got = d.wait_until(lambda: (s := scrape(ns, d.port))[LAST_POLL] > polled and s)
    assert nflog_groups(got) == {"41"}  # the old pipeline, rebuilt, polling again
    errors = [line for line in d.output().splitlines() if " level=error " in line]
    assert len(errors) == 1 and "cannot bind NFLOG group 42" in errors[0], d.output()
