"""A TCP proxy in front of carbon that misbehaves on the connections it is told to: it answers
with a reset, accepts and never reads, or forwards part of the stream and closes in the middle
of a line. Connections after the planned faults are forwarded faithfully."""

import contextlib
import socket
import struct
import threading
import time

from tests.support.netns import Netns, free_port

RST, SILENT, MIDLINE = "rst", "silent", "midline"


def _reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


class FaultyCarbon:
    """Listens on 127.0.0.1:``port`` in ``ns``; the n-th accepted connection gets ``faults[n]``
    (then faithful forwarding to ``target``). ``seen`` lists what each connection got."""

    def __init__(self, ns: Netns, target: int, faults: list[str], silent_for: float = 6.0,
                 rcvbuf: int = 4096) -> None:
        self.ns, self.target, self.faults = ns, target, list(faults)
        self.silent_for = silent_for
        self.port = free_port()
        self.seen: list[str] = []
        self._closing = threading.Event()

        def listen() -> socket.socket:
            srv = socket.socket()
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # a silent peer fills
            srv.bind(("127.0.0.1", self.port))
            srv.listen(16)
            threading.Thread(target=self._accept, args=(srv,), daemon=True).start()
            return srv
        self._srv = ns.call(listen)  # threads started in the namespace stay in it

    def _accept(self, srv: socket.socket) -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            fault = self.faults.pop(0) if self.faults else "forward"
            self.seen.append(fault)
            threading.Thread(target=getattr(self, "_" + fault), args=(conn,),
                             daemon=True).start()

    def _rst(self, conn: socket.socket) -> None:
        _reset(conn)

    def _silent(self, conn: socket.socket) -> None:
        self._closing.wait(self.silent_for)
        _reset(conn)  # what it holds unread is gone, as when a hung carbon is killed

    def _midline(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.target)) as up:
            data = conn.recv(65536)
            cut = data.find(b"\n", len(data) // 2) + 1 or len(data)
            up.sendall(data[: max(1, cut - 5)])  # up to the middle of a line, then gone

    def _forward(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.target)) as up:
            while not self._closing.is_set() and (data := conn.recv(65536)):
                up.sendall(data)

    def wait_seen(self, n: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.seen) < n:
            assert time.monotonic() < deadline, f"connections seen: {self.seen}"
            time.sleep(0.1)

    def close(self) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):
            self._srv.close()
