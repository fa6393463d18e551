"""The NFLOG source without a kernel: cardinality cap, verdicts, loss, a receive that fails."""

import errno
import re

from nfacct_exporter.config.nflog import NflogGroup
from nfacct_exporter.netlink import nflog
from nfacct_exporter.records import NflogCount, NflogGroupStats
from nfacct_exporter.sources import nflog as source
from nfacct_exporter.sources.nflog import NflogSource, verdict_of
from tests.support.nflog_ref import datagram, ipv4, packet


class FakeSocket:
    """Hands out queued datagrams / errors like a non-blocking socket."""

    def __init__(self, items: list) -> None:
        self.items = list(items)

    def recv_into(self, buf: bytearray) -> int:
        if not self.items:
            raise BlockingIOError(errno.EAGAIN, "empty")
        item = self.items.pop(0)
        if isinstance(item, Exception):
            raise item
        buf[: len(item)] = item
        return len(item)

    def fileno(self) -> int:
        return 99

    def close(self) -> None:
        pass


def feed(cfg: NflogGroup, items: list) -> NflogSource:
    """A source whose one group reads ``items``, drained once, with a live-looking thread."""
    src = NflogSource([cfg])
    g = source._Group(cfg, FakeSocket(items))
    src.groups[99] = g
    buf = bytearray(source.RECV_SIZE)
    src._drain(g, buf, memoryview(buf))

    class Alive:
        def is_alive(self) -> bool:
            return True
    src._thread = Alive()  # type: ignore[assignment]
    return src


def test_cap_folds_new_prefixes_into_one_overflow_record_per_verdict() -> None:
    cfg = NflogGroup(3, "drop", ((re.compile("^ok"), "accept"),), max_prefixes=2)
    prefixes = [b"a", b"b", b"c", b"ok1", b"a", b"d", b"ok2", b"c"]
    pkts = [packet(3, i, p, ipv4(100 + i)) for i, p in enumerate(prefixes)]
    r = feed(cfg, [datagram(*pkts[:5]), datagram(*pkts[5:])]).read()
    assert r.ok
    got = {(c.prefix, c.verdict): (c.packets, c.bytes) for c in r.records}
    assert got == {("a", "drop"): (2, 100 + 104), ("b", "drop"): (1, 101),
                   (None, "drop"): (3, 102 + 105 + 107), (None, "accept"): (2, 103 + 106)}
    (stats,) = r.extra["groups"]
    assert stats == NflogGroupStats(3, 0, 2, 5)
    assert sum(c.packets for c in r.records) == len(prefixes)


def test_aliases_are_forgotten_when_too_many_but_counts_stay(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(source, "ALIASES_MAX", 3)
    cfg = NflogGroup(1, "log", max_prefixes=1)
    pkts = [packet(1, i, f"p{i}".encode(), ipv4(10)) for i in range(20)]
    src = feed(cfg, [datagram(*pkts)])
    g = src.groups[99]
    assert len(g.counts) <= 1 + 3 and set(g.names) == {b"p0\0"}
    assert {(c.prefix, c.packets) for c in src.read().records} == {("p0", 1), (None, 19)}


def test_gaps_count_as_lost_and_enobufs_does_not_stop_the_listener() -> None:
    cfg = NflogGroup(1, "accept")
    first = datagram(*[packet(1, i, b"x", ipv4(50)) for i in range(3)])
    later = datagram(*[packet(1, i, b"x", ipv4(50)) for i in range(10, 12)])
    src = feed(cfg, [first, OSError(errno.ENOBUFS, "No buffer space"), later])
    r = src.read()
    assert r.records == (NflogCount(1, "x", "accept", 5, 250),)
    assert r.extra["groups"][0].lost == 7  # seq 3..9 never arrived
    assert r.extra["receive_errors"] == 1 and r.extra["datagrams"] == 2


def test_verdict_overrides_first_match_wins() -> None:
    cfg = NflogGroup(2, "drop", ((re.compile("SSH"), "accept"), (re.compile("^SSH"), "reject")))
    assert verdict_of(cfg, "Input SSH Attempt") == "accept"
    assert verdict_of(cfg, "SSH Attempt") == "accept"
    assert verdict_of(cfg, "Input IPv4 Default DROP") == "drop"
    assert verdict_of(cfg, "") == "drop"


def test_read_without_listener_is_a_failed_reading() -> None:
    r = NflogSource([NflogGroup(1)]).read()
    assert not r.ok and "not running" in r.error


def test_empty_and_missing_prefix_are_one_series() -> None:
    pkts = [packet(1, 0, b"", ipv4(20)), packet(1, 1, None, ipv4(30))]
    r = feed(NflogGroup(1), [datagram(*pkts)]).read()
    assert r.records == (NflogCount(1, "", "log", 2, 50),)
    assert nflog.EMPTY == b"\0"
