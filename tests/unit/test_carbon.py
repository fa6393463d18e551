"""Graphite delivery with fakes: the backlog's rules, and CarbonSender against an in-process TCP
server that can refuse, close early or vanish (the real carbon-cache runs in tests/e2e)."""

import contextlib
import gc
import socket
import threading
import time

import pytest

from nfacct_exporter.sinks import carbon as carbon_mod
from nfacct_exporter.sinks.backlog import Backlog, Chunk, pack
from nfacct_exporter.sinks.carbon import CarbonSender
from tests.support.waiting import until


def poll(i: int, n: int = 3) -> bytes:
    return "".join(f"p.o{j}.pkts {i} {1000 + i}\n" for j in range(n)).encode()


# --- backlog -----------------------------------------------------------------------------------

def test_memcap_drops_the_oldest_whole_polls_and_counts_them() -> None:
    b = Backlog(memcap=3 * len(poll(0)))
    for i in range(5):
        b.push(Chunk.of(poll(i)))
    assert [c.raw() for c in b.pending] == [poll(2), poll(3), poll(4)]
    assert b.dropped == 6 and b.lines == 9 and b.bytes <= b.memcap


def test_the_newest_poll_is_kept_even_over_memcap() -> None:
    b = Backlog(memcap=1)
    b.push(Chunk.of(poll(0)))
    b.push(Chunk.of(poll(1)))
    assert [c.raw() for c in b.pending] == [poll(1)] and b.dropped == 3


def test_in_flight_is_released_only_when_acknowledged_and_old_enough() -> None:
    b = Backlog(memcap=1 << 20)
    for i in range(3):
        b.push(Chunk.of(poll(i)))
    size = len(poll(0))
    taken = b.take(2 * size, now=10.0)
    assert len(taken) == 2 and b.stream == 2 * size and b.inflight_lines == 6
    assert b.release(acked=size - 1, written_before=100) == 0  # first poll not fully acked
    assert b.release(acked=2 * size, written_before=9.0) == 0  # acked, but too recent
    assert b.release(acked=size, written_before=10.0) == 3
    assert b.requeue() == 3  # connection lost: the second poll goes back in front, in order
    assert [c.raw() for c in b.pending] == [poll(1), poll(2)] and b.stream == 0
    assert b.lines == 6 and b.inflight_lines == 0


def test_packing_keeps_content_and_shrinks_what_is_held() -> None:
    b = Backlog(memcap=1 << 20)
    big = b"".join(poll(i, 200) for i in range(5))
    c = Chunk.of(big)
    b.push(c)
    b.packed(c, pack(c))
    assert c.packed and b.bytes < len(big) / 3 and c.raw() == big and c.size == len(big)
    gone = Chunk.of(poll(9))
    gone.dropped = True
    b.packed(gone, pack(gone))
    assert not gone.packed


# --- sender against a fake carbon ------------------------------------------------------------

class FakeCarbon:
    """Accepts connections, records what each one received; ``close_after`` bytes on the first
    connection it closes it (a carbon restart seen from the client)."""

    def __init__(self, close_after: int | None = None) -> None:
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        self.conns: list[bytearray] = []
        self.close_after = close_after
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            buf = bytearray()
            self.conns.append(buf)
            threading.Thread(target=self._read, args=(c, buf, len(self.conns) == 1),
                             daemon=True).start()

    def _read(self, c: socket.socket, buf: bytearray, first: bool) -> None:
        with c:
            while data := c.recv(65536):
                buf += data
                if first and self.close_after is not None and len(buf) >= self.close_after:
                    return

    def lines(self) -> list[bytes]:
        return [line for conn in self.conns for line in bytes(conn).splitlines()]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.srv.shutdown(socket.SHUT_RDWR)  # wakes accept(): the port really closes
        self.srv.close()


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(carbon_mod, "REPLAY", 0.3)
    monkeypatch.setattr(carbon_mod, "CHECK", 0.02)
    monkeypatch.setattr(carbon_mod, "BACKOFF_MIN", 0.05)
    monkeypatch.setattr(carbon_mod, "BACKOFF_MAX", 0.4)


def wait(pred, timeout: float = 5.0) -> None:  # noqa: ANN001
    until(pred, timeout, interval=0.01)


def test_polls_arrive_in_order_over_one_persistent_connection() -> None:
    srv = FakeCarbon()
    s = CarbonSender("127.0.0.1", srv.port, timeout=1, memcap=1 << 20)
    s.start()
    for i in range(20):
        s.submit(poll(i))
        time.sleep(0.005)
    wait(lambda: s.lines_sent == 60)
    s.stop(1)
    assert len(srv.conns) == 1
    assert srv.lines() == b"".join(poll(i) for i in range(20)).splitlines()
    assert s.backlog_lines == s.inflight_lines == 0 and s.lines_dropped == 0
    srv.close()


def test_a_poll_in_parts_arrives_whole_and_in_order() -> None:
    """A poll handed over in parts (empty ones, more than one sendmsg's 1024, megabytes that
    the socket takes in pieces) arrives as the same bytes, its lines counted as given."""
    srv = FakeCarbon()
    s = CarbonSender("127.0.0.1", srv.port, timeout=1, memcap=1 << 26)
    parts = [poll(i) for i in range(3000)] + [b""] + [poll(i, 20_000) for i in range(3)]
    want = b"".join(parts)
    s.submit(parts, want.count(b"\n"))
    s.submit([poll(7)])
    assert s.backlog_bytes == len(want) + len(poll(7))
    s.start()
    wait(lambda: s.lines_sent == want.count(b"\n") + 3, timeout=15)
    s.stop(1)
    assert len(srv.conns) == 1 and bytes(srv.conns[0]) == want + poll(7)
    srv.close()


def test_lines_in_flight_when_carbon_closes_are_sent_again() -> None:
    srv = FakeCarbon(close_after=len(poll(0)) * 3)
    s = CarbonSender("127.0.0.1", srv.port, timeout=1, memcap=1 << 20)
    s.start()
    for i in range(30):
        s.submit(poll(i))
        time.sleep(0.01)
    wait(lambda: s.lines_sent == 90 and not s.inflight_lines)
    s.stop(1)
    assert len(srv.conns) >= 2
    got = srv.lines()
    want = b"".join(poll(i) for i in range(30)).splitlines()
    assert set(want) <= set(got)  # nothing lost (repeats are harmless in carbon)
    last_conn = bytes(srv.conns[-1]).splitlines()
    assert last_conn == sorted(last_conn, key=want.index)  # in order
    srv.close()


def test_submit_never_blocks_and_reconnects_back_off() -> None:
    gone = FakeCarbon()
    gone.close()  # nothing listens any more: connections are refused
    port = gone.port
    s = CarbonSender("127.0.0.1", port, timeout=1, memcap=1 << 20)
    s.start()
    t0 = time.perf_counter()
    for i in range(2000):
        s.submit(poll(i))
    assert time.perf_counter() - t0 < 0.5
    time.sleep(1.5)
    # 0.05, 0.1, 0.2, 0.4, 0.4, ... (+-20%): about 6 attempts in 1.5 s, never a busy loop
    assert 3 <= s.connect_failures <= 9
    assert not s.connected and s.backlog_lines == 6000
    t0 = time.monotonic()
    s.stop(0.3)
    assert time.monotonic() - t0 < 1.5


def test_stop_flushes_at_once_instead_of_waiting_out_the_backoff(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(carbon_mod, "BACKOFF_MIN", 30.0)
    monkeypatch.setattr(carbon_mod, "BACKOFF_MAX", 30.0)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    port = lsock.getsockname()[1]
    s = CarbonSender("127.0.0.1", port, timeout=1, memcap=1 << 20)
    s.start()
    s.submit(poll(1))
    wait(lambda: s.connect_failures == 1)  # refused (bound, not listening): next try in ~30 s
    lsock.listen()
    got = bytearray()

    def serve() -> None:
        c, _ = lsock.accept()
        with c:
            while data := c.recv(65536):
                got.extend(data)
    threading.Thread(target=serve, daemon=True).start()
    t0 = time.monotonic()
    s.stop(5)
    assert time.monotonic() - t0 < 2 and s.lines_sent == 3
    wait(lambda: bytes(got) == poll(1))
    lsock.close()


def test_garbage_collection_never_flushes() -> None:
    s = CarbonSender("127.0.0.1", 9, timeout=1, memcap=1 << 20)
    s.submit(poll(0))
    t0 = time.monotonic()
    del s
    gc.collect()
    assert time.monotonic() - t0 < 1.0  # a flush would wait flush_grace (5 s) for carbon


def test_a_reload_hands_undelivered_polls_to_the_new_sender() -> None:
    gone = FakeCarbon()
    gone.close()
    old = CarbonSender("127.0.0.1", gone.port, timeout=1, memcap=1 << 20)
    old.start()
    for i in range(5):
        old.submit(poll(i))
    wait(lambda: old.connect_failures >= 1)
    srv = FakeCarbon()
    new = CarbonSender("127.0.0.1", srv.port, timeout=1, memcap=1 << 20)
    new.submit(poll(5))
    old.hand_over(new)
    assert old.backlog_lines == 0 and new.backlog_lines == 18
    new.start()
    wait(lambda: new.lines_sent == 18)
    new.stop(1)
    assert srv.lines() == b"".join(poll(i) for i in range(6)).splitlines()
    srv.close()
