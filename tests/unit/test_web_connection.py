"""Connection output: an answer given as parts goes out as if joined, in WRITE_CHUNK sends."""

import os
import socket

from nfacct_exporter.web.connection import WRITE_CHUNK, Connection


class Recorder:
    """A socket that takes at most ``limit`` bytes per send and records each send."""

    def __init__(self, limit: int) -> None:
        self.limit, self.sends = limit, []

    def send(self, data: memoryview) -> int:
        self.sends.append(bytes(data))
        return min(len(data), self.limit)


def test_parts_are_sent_joined_in_chunks() -> None:
    parts = (b"HTTP/1.1 200 OK\r\n\r\n", os.urandom(3 * WRITE_CHUNK + 5), b"", b"own\n")
    sock = Recorder(limit=WRITE_CHUNK // 3)
    conn = Connection(sock, "peer", None, 0.0)  # type: ignore[arg-type]
    conn.answer(parts, close=False, now=0.0)
    assert conn.flush() is True and conn.out is None
    pos = 0
    for sent in sock.sends:  # each send starts where the kernel stopped taking the last
        assert sent == b"".join(parts)[pos:pos + len(sent)]
        pos += min(len(sent), sock.limit)
    assert pos == sum(map(len, parts))
    # whole chunks, the head's in the first, the small tail's in the last: no tiny segments
    assert len(sock.sends[0]) == WRITE_CHUNK and sock.sends[0].startswith(parts[0])
    assert max(map(len, sock.sends)) == WRITE_CHUNK
    assert sock.sends[-1].endswith(parts[1][-5:] + b"own\n")


def test_a_real_socket_gets_every_byte() -> None:
    a, b = socket.socketpair()
    try:
        a.setblocking(False)
        body = os.urandom(5 * WRITE_CHUNK)
        conn = Connection(a, "peer", None, 0.0)
        conn.answer((b"head\r\n\r\n", body, b"tail"), close=False, now=0.0)
        got = bytearray()
        while (done := conn.flush()) is None:
            got += b.recv(1 << 20)
        assert done is True
        b.settimeout(1.0)
        while len(got) < len(body) + 12:
            got += b.recv(1 << 20)
        assert bytes(got) == b"head\r\n\r\n" + body + b"tail"
    finally:
        a.close()
        b.close()
