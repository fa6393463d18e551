"""One client connection of the server's loop: its TLS handshake, buffered input and output, and
the deadline of whatever it is doing. Nothing here blocks.

Deadlines run from the start of a phase, not from the last byte, so a client sending one byte a
second cannot stretch them: the handshake from accept, a request head from its first byte (or
from the connection's start), an answer from its first byte, an idle keep-alive from the answer.
"""

import contextlib
import logging
import selectors
import socket
import ssl
from collections import deque
from collections.abc import Sequence

from nfacct_exporter.config.web import WebConfig
from nfacct_exporter.web import tls

log = logging.getLogger("nfacct_exporter.web.server")

HANDSHAKE_TIMEOUT = 10.0  # accept → TLS handshake done
HEADER_TIMEOUT = 10.0  # a request's start → its blank line
IDLE_TIMEOUT = 120.0  # keep-alive: an answer written → the next request's first byte
WRITE_TIMEOUT = 60.0  # an answer started → its last byte handed to the kernel
READ_SIZE = 65536
WRITE_CHUNK = 65536  # TLS retries a partial write with the same slice: keep it fixed
R, W = selectors.EVENT_READ, selectors.EVENT_WRITE


class Connection:
    """``busy`` while a request of it counts as in progress (at the auth worker, or its answer
    being written); ``served`` answers so far; ``events`` registered with the selector."""

    def __init__(self, sock: socket.socket, peer: str, web: WebConfig | None,
                 now: float) -> None:
        self.sock = sock
        self.peer = peer
        self.web = web  # the TLS web config it was accepted under; None for plain HTTP
        self.handshaking = web is not None
        self.deadline = now + (HANDSHAKE_TIMEOUT if self.handshaking else HEADER_TIMEOUT)
        self.inbuf = bytearray()
        self.out: deque[memoryview] | None = None  # the answer's parts not yet in a chunk
        self.chunk = memoryview(b"")  # what the socket is being given (kept for a TLS retry)
        self.close_after = False
        self.busy = False
        self.working = False  # its request is at the auth worker
        self.served = 0
        self.wait = R  # what the socket waits for next (TLS may need to write to read)
        self.events = 0
        self.closed = False

    def wanted(self) -> int:
        """The selector events to wait for: none while the auth worker has its request."""
        return 0 if self.closed or self.working else self.wait

    def handshake(self, now: float) -> bool:
        """One TLS handshake step; False if it failed or the client certificate is refused."""
        assert self.web is not None and isinstance(self.sock, ssl.SSLSocket)
        try:
            want = tls.handshake_step(self.sock)
        except OSError as e:
            log.debug("TLS handshake with %s failed: %s", self.peer, e)
            return False
        if want:
            self.wait = want
            return True
        self.handshaking, self.wait = False, R
        self.deadline = now + HEADER_TIMEOUT
        return tls.allowed(self.sock, self.web, self.peer)

    def read(self, now: float) -> bool:
        """What the client sent, into ``inbuf``; False once it closed or failed."""
        try:
            data = self.sock.recv(READ_SIZE)
            while isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
                data += self.sock.recv(READ_SIZE)  # decrypted already: no readiness event
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
            self.wait = R
            return True
        except ssl.SSLWantWriteError:
            self.wait = W
            return True
        except OSError as e:  # resets, TLS errors
            log.debug("client %s: %s", self.peer, e)
            return False
        if not data:
            return False
        if not self.inbuf and self.served:
            self.deadline = now + HEADER_TIMEOUT  # the next request has started
        self.inbuf += data
        self.wait = R
        return True

    def answer(self, data: bytes | Sequence[bytes], close: bool, now: float) -> None:
        """Start writing ``data``: bytes, or parts written as if joined (never copied whole: the
        cached 2 MB exposition goes out as it is)."""
        parts = (data,) if isinstance(data, bytes) else data
        self.out = deque(memoryview(p) for p in parts if len(p))
        self.chunk = memoryview(b"")
        self.close_after |= close
        self.deadline = now + WRITE_TIMEOUT

    def _next_chunk(self) -> memoryview:
        """The next WRITE_CHUNK bytes of the parts (small parts joined: one send, one segment)."""
        assert self.out is not None
        pieces, size = [], 0
        while self.out and size < WRITE_CHUNK:
            part = self.out.popleft()
            take = part[:WRITE_CHUNK - size]
            if len(take) < len(part):
                self.out.appendleft(part[len(take):])
            pieces.append(take)
            size += len(take)
        return pieces[0] if len(pieces) == 1 else memoryview(b"".join(pieces))

    def flush(self) -> bool | None:
        """Write what the kernel takes: True when all is written, None for more, False failed."""
        assert self.out is not None
        while self.chunk or self.out:
            if not self.chunk:
                self.chunk = self._next_chunk()
            try:
                self.chunk = self.chunk[self.sock.send(self.chunk):]
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError):
                self.wait = W
                return None
            except ssl.SSLWantReadError:
                self.wait = R
                return None
            except OSError as e:
                log.debug("client %s: %s", self.peer, e)
                return False
        self.out, self.wait = None, R
        return True

    def answered(self, now: float) -> None:
        """The answer is written: wait for the next request (perhaps already buffered)."""
        self.served += 1
        self.deadline = now + (HEADER_TIMEOUT if self.inbuf else IDLE_TIMEOUT)

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()
