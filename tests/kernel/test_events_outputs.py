"""Event outputs under real trouble: logrotate (create, copytruncate), a full tmpfs, and a socket
consumer that goes away and comes back. Every event submitted is written or counted dropped."""

import json
import shutil
import socket
import subprocess
import threading
import time

import pytest

from nfacct_exporter.events.json_format import EventFormat
from nfacct_exporter.events.outputs import FileOutput, SocketOutput
from nfacct_exporter.events.writer import EventWriter
from tests.support.events_data import tcp_datagram
from tests.support.netns import Netns

GROUP = 5
KEY = (None, GROUP)


def fmt() -> EventFormat:
    return EventFormat(GROUP, "ulogd", "fw", lambda prefix: "blocked", lambda i: "lo")


def feed(w: EventWriter, batches: int, per: int, pause: float, seq0: int = 0) -> int:
    f = fmt()
    for b in range(batches):
        w.submit(f, tcp_datagram(per, seq0 + b * per), per, time.time())
        time.sleep(pause)
    return batches * per


def seqs(*paths) -> list[int]:  # noqa: ANN002
    out = []
    for p in paths:
        if p.exists():
            data = p.read_bytes()
            assert b"\0" not in data and (not data or data.endswith(b"\n"))
            out += [json.loads(line)["oob.seq.local"] for line in data.splitlines()]
    return out


def wait(cond, timeout: float = 10.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.skipif(not shutil.which("logrotate"), reason="logrotate missing")
def test_logrotate_create_and_copytruncate_lose_nothing(tmp_path) -> None:  # noqa: ANN001
    log = tmp_path / "events.json"
    w = EventWriter(FileOutput(str(log)))
    w.start()

    def rotate(mode: str) -> None:
        conf = tmp_path / "lr.conf"
        conf.write_text(f"{log} {{\n  rotate 9\n  {mode}\n  missingok\n}}\n")
        subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(conf)],
                       check=True, capture_output=True)

    sent = 0
    feeder = threading.Thread(target=lambda: feed(w, 60, 20, 0.01))
    feeder.start()  # create: rotated while events keep coming
    time.sleep(0.2)
    rotate("create 0640")
    time.sleep(0.2)
    rotate("create 0640")
    feeder.join()
    sent += 60 * 20
    wait(lambda: w.counters()[0].get(KEY, 0) == sent)
    rotate("copytruncate")  # between two bursts: the copy and the cut see the same file
    sent += feed(w, 10, 20, 0.01, seq0=sent)
    w.stop()
    files = [log] + [tmp_path / f"events.json.{i}" for i in range(1, 4)]
    got = seqs(*files)
    assert sorted(got) == list(range(sent)) and w.counters() == ({KEY: sent}, {})
    assert len(seqs(log)) == 200 and all(seqs(f) for f in files)  # each rotation was seen


def test_full_tmpfs_drops_counts_and_recovers(tmp_path) -> None:  # noqa: ANN001
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], check=True)
    try:
        log = mnt / "events.json"
        w = EventWriter(FileOutput(str(log)), capacity=1000)
        w.start()
        sent = feed(w, 100, 50, 0.002)  # ~3.5 MB of events for 64 KiB
        wait(lambda: sum(w.counters()[1].values()) > 0)
        written, dropped = w.counters()
        assert set(dropped) == {(KEY, "write_error")}
        assert 0 < written[KEY] < 200
        assert seqs(log) == list(range(written[KEY]))  # whole lines only, none cut
        subprocess.run(["mount", "-o", "remount,size=16m", str(mnt)], check=True)
        wait(lambda: sum(w.counters()[0].values()) + sum(w.counters()[1].values()) == sent)
        sent += feed(w, 5, 50, 0.01, seq0=sent)  # and new events are written again
        w.stop()
        written, dropped = w.counters()
        assert written[KEY] + dropped[(KEY, "write_error")] == sent
        final = seqs(log)
        assert len(final) == written[KEY] and final[-250:] == list(range(sent - 250, sent))
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


class Consumer:
    """A json_lines consumer that leaves politely: shuts its side, reads to the end, closes."""

    def __init__(self, ns: Netns, port: int) -> None:
        self.ns, self.port = ns, port
        self.lines: list[bytes] = []
        self.srv: socket.socket | None = None

    def listen(self) -> None:
        def make() -> socket.socket:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", self.port))
            s.listen()
            return s
        self.srv = self.ns.call(make)

    def serve(self, stop_after: int | None) -> None:
        """Accept one connection; read until ``stop_after`` lines, then leave (or until EOF)."""
        assert self.srv is not None
        conn, _ = self.srv.accept()
        buf = b""
        left = False
        while True:
            data = conn.recv(65536)
            if not data:
                break
            buf += data
            *whole, buf = buf.split(b"\n")
            self.lines += whole
            if stop_after is not None and len(self.lines) >= stop_after and not left:
                conn.shutdown(socket.SHUT_WR)
                self.srv.close()  # gone: new connections are refused for a while
                left = True
        assert buf == b""  # no partial line
        conn.close()


def test_socket_consumer_leaves_and_comes_back(ns: Netns) -> None:
    port = 31000 + int(time.time()) % 1000
    consumer = Consumer(ns, port)
    consumer.listen()
    w = EventWriter(SocketOutput(f"tcp://127.0.0.1:{port}"), capacity=300)
    ns.call(w.start)  # the writer thread connects from the test namespace
    first = threading.Thread(target=consumer.serve, args=(400,))
    first.start()
    sent = feed(w, 40, 20, 0.005)
    first.join(10)
    sent += feed(w, 40, 20, 0.002, seq0=sent)  # consumer gone: queued, then dropped
    time.sleep(0.3)
    consumer.listen()
    second = threading.Thread(target=consumer.serve, args=(None,))
    second.start()
    sent += feed(w, 10, 20, 0.01, seq0=sent)
    wait(lambda: sum(w.counters()[0].values()) + sum(w.counters()[1].values()) == sent)
    w.stop()
    second.join(10)
    written, dropped = w.counters()
    got = [json.loads(line)["oob.seq.local"] for line in consumer.lines]
    assert len(got) == len(set(got)) == written[KEY]
    assert written[KEY] + dropped.get((KEY, "disconnected"), 0) == sent
    assert dropped and set(dropped) <= {(KEY, "disconnected")}
    assert got[-200:] == list(range(sent - 200, sent))  # the last burst arrived whole
