"""The event queue and writer thread with outputs that are slow, fail, recover or get rotated."""

import json
import logging
import socket
import threading
import time

import pytest

from nfacct_exporter.events import writer as writer_mod
from nfacct_exporter.events.json_format import EventFormat
from nfacct_exporter.events.outputs import FileOutput, SocketOutput, WriteError, parse_socket
from nfacct_exporter.events.writer import EventWriter
from tests.support.events_data import tcp_datagram


def fmt(group: int = 3) -> EventFormat:
    return EventFormat(group, "ulogd", "fw", lambda prefix: "allowed", lambda i: "lo")


class Fake:
    """An output that records lines; ``gate`` blocks writes, ``fail`` makes them raise."""

    name = "fake"

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail: OSError | None = None
        self.opens = 0
        self._open = False

    def open(self) -> None:
        self.opens += 1
        self._open = True

    def is_open(self) -> bool:
        return self._open

    def check(self) -> None:
        pass

    reopen = open

    def write(self, data: bytes) -> None:
        self.gate.wait()
        if self.fail is not None:
            raise WriteError(0, self.fail)
        self.lines += data.splitlines()

    def close(self) -> None:
        self._open = False


def wait(cond, timeout: float = 5.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def total(w: EventWriter) -> int:
    written, dropped = w.counters()
    return sum(written.values()) + sum(dropped.values())


def test_slow_output_drops_and_counts_once_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    out = Fake()
    w = EventWriter(out, capacity=100)
    w.start()
    out.gate.clear()  # the output stalls
    f, g = fmt(3), fmt(4)
    for i in range(30):
        w.submit(f if i % 2 else g, tcp_datagram(10, i * 10), 10, time.time())
    with caplog.at_level(logging.WARNING):
        for i in range(30, 40):
            w.submit(f, tcp_datagram(10, i * 10), 10, time.time())
    out.gate.set()
    wait(lambda: total(w) == 400)
    w.stop()
    written, dropped = w.counters()
    assert set(dropped) <= {((None, 3), "queue_full"), ((None, 4), "queue_full")}
    assert dropped[((None, 3), "queue_full")]
    assert len(out.lines) == sum(written.values()) >= 100
    assert len([r for r in caplog.records if "dropping" in r.message]) <= 1


def test_failing_output_keeps_events_then_writes_them(monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(writer_mod, "BACKOFF_MAX", 0.05)
    out = Fake()
    out.fail = OSError(28, "No space left on device")
    w = EventWriter(out, capacity=50)
    with caplog.at_level(logging.INFO):
        w.start()
        w.submit(fmt(), tcp_datagram(10), 10, time.time())  # taken, then failing
        wait(lambda: w._failure == "write_error")
        for i in range(1, 11):
            w.submit(fmt(), tcp_datagram(10, i * 10), 10, time.time())
        assert w.counters()[1] == {((None, 3), "write_error"): 50}
        out.fail = None
        wait(lambda: w.counters()[0].get((None, 3)) == 60)
        w.stop()
    seqs = [json.loads(line)["oob.seq.local"] for line in out.lines]
    assert seqs == list(range(60))  # the first 60 were kept, in order; the rest dropped
    msgs = [r.message for r in caplog.records]
    assert sum("No space left" in m for m in msgs) == 1 and any("writing again" in m for m in msgs)


def test_reopen_and_stop_flushes() -> None:
    out = Fake()
    w = EventWriter(out)
    w.start()
    wait(lambda: out.opens == 1)
    w.reopen()
    wait(lambda: out.opens == 2)
    out.gate.clear()
    for i in range(5):
        w.submit(fmt(), tcp_datagram(20, i * 20), 20, time.time())
    out.gate.set()
    w.stop()
    assert len(out.lines) == 100 and w.counters() == ({(None, 3): 100}, {})


def test_file_output_follows_a_moved_file(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "e.json"
    out = FileOutput(str(path))
    out.open()
    out.write(b"one\n")
    path.rename(tmp_path / "e.json.1")
    out.write(b"two\n")  # still the old file until checked
    out.check()
    out.write(b"three\n")
    out.close()
    assert (tmp_path / "e.json.1").read_bytes() == b"one\ntwo\n"
    assert path.read_bytes() == b"three\n"


@pytest.mark.parametrize("spec, want", [
    ("tcp://127.0.0.1:5044", (socket.AF_INET, ("127.0.0.1", 5044))),
    ("tcp://[::1]:5044", (socket.AF_INET6, ("::1", 5044))),
    ("tcp://logstash.example:5044", (socket.AF_INET, ("logstash.example", 5044))),
    ("unix:/run/logstash.sock", (socket.AF_UNIX, "/run/logstash.sock"))])
def test_socket_specs(spec: str, want: tuple) -> None:
    assert parse_socket(spec) == want


@pytest.mark.parametrize("spec", ["tcp://host", "tcp://:80", "tcp://h:0", "tcp://h:x", "unix:",
                                  "udp://h:1", "/path"])
def test_bad_socket_specs(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_socket(spec)


def test_unix_socket_peer_that_closes_is_noticed_before_writing(tmp_path) -> None:  # noqa: ANN001
    path = str(tmp_path / "s")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen()
    out = SocketOutput(f"unix:{path}")
    out.open()
    conn, _ = srv.accept()
    out.write(b"a\n")
    assert conn.recv(10) == b"a\n"
    conn.shutdown(socket.SHUT_WR)  # the consumer leaves
    time.sleep(0.05)
    out.check()  # reconnects: the old connection gets nothing more
    out.write(b"b\n")
    assert conn.recv(10) == b""
    conn2, _ = srv.accept()
    assert conn2.recv(10) == b"b\n"
    srv.close()
    conn2.close()
    out.close()


def test_what_stop_cannot_write_is_counted_dropped() -> None:
    out = Fake()
    out.fail = OSError(5, "Input/output error")
    w = EventWriter(out)
    w.start()
    for i in range(3):
        w.submit(fmt(), tcp_datagram(10, i * 10), 10, time.time())
    wait(lambda: w._failure == "write_error")
    w.stop(timeout=0.1)
    assert w.counters() == ({}, {((None, 3), "write_error"): 30})


class Partial(Fake):
    """An output that takes only the first ``take`` whole lines of its first write, then fails
    (as a file cut back to its last complete line, or a socket that broke)."""

    def __init__(self, take: int) -> None:
        super().__init__()
        self.take = take

    def write(self, data: bytes) -> None:
        if self.take < 0:
            return super().write(data)
        done = 0
        for _ in range(self.take):
            done = data.index(b"\n", done) + 1
        self.lines += data[:done].splitlines()
        self.take = -1
        raise WriteError(done, OSError(28, "No space left on device"))


@pytest.mark.parametrize("take", [0, 1, 7, 10, 13, 29])
def test_a_write_that_stops_mid_datagram_counts_whole_lines(monkeypatch: pytest.MonkeyPatch,
                                                            take: int) -> None:
    monkeypatch.setattr(writer_mod, "BACKOFF_MIN", 0.01)
    out = Partial(take)
    w = EventWriter(out)
    for i in range(3):  # three datagrams of 10, all in the first write
        w.submit(fmt(), tcp_datagram(10, i * 10), 10, time.time())
    w.start()
    wait(lambda: w.counters()[0].get((None, 3)) == 30)
    w.stop()
    seqs = [json.loads(line)["oob.seq.local"] for line in out.lines]
    assert seqs == list(range(30))  # each line once, in order
    assert w.counters() == ({(None, 3): 30}, {})
