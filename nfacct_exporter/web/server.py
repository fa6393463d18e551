"""The HTTP server: one thread runs a selector loop over every connection (``connection``),
their TLS handshakes included, and answers requests itself: ``app.App`` only copies bytes
rendered at the last poll. Only a basic auth check that needs bcrypt goes to a worker thread.

Idle and slow clients cost a descriptor, never a thread; the connection count stays below the
open files limit (``listener.connection_cap``), closing the oldest connections that are not
being answered to make room, so that a real scrape always gets in. At most ``max_requests``
requests are in progress (at the worker or their answer being written); more get 503 at once.
Clients that misbehave cost one debug line, never a traceback.
"""

import collections
import contextlib
import errno
import logging
import queue
import selectors
import socket
import threading
import time

from nfacct_exporter.web import framing, tls
from nfacct_exporter.web.app import App, Response
from nfacct_exporter.web.connection import Connection, R
from nfacct_exporter.web.listener import Once, connection_cap, listen
from nfacct_exporter.web.tls import PLAIN, Active, WebConfigSource

log = logging.getLogger(__name__)

TICK = 0.25  # deadlines are checked (and paused accepting resumed) this often
ACCEPT_BATCH = 64
OUT_OF_FDS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_WAKE = object()


class MetricsServer:
    """``start()`` serves on a thread; ``shutdown()`` stops it, ``server_close()`` closes every
    socket. ``listener``: an already bound, listening socket (e.g. from systemd) instead of
    binding ``host``:``port``."""

    def __init__(self, host: str, port: int, app: App, web: WebConfigSource | None = None,
                 max_requests: int = 40, listener: socket.socket | None = None) -> None:
        self.app = app
        self.web = web
        self.max_requests = max_requests  # 0: no limit
        self.socket = listener if listener is not None else listen(host, port)
        self.socket.setblocking(False)
        self.cap = connection_cap()
        self.conns: dict[Connection, None] = {}  # oldest first
        self.in_progress = 0
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        for s in (self._wake_r, self._wake_w):
            s.setblocking(False)
        self._sel.register(self._wake_r, R, _WAKE)
        self._sel.register(self.socket, R, None)
        self._resume_at: float | None = None  # accepting paused until then
        self._out_of_fds, self._full = Once(), Once()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._done: collections.deque = collections.deque()
        self._worker: threading.Thread | None = None

    def web_config(self) -> Active:
        return self.web.current() if self.web is not None else PLAIN

    # --- life cycle ----------------------------------------------------------------------------
    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        self._thread.start()
        return self._thread

    def shutdown(self) -> None:
        self._stop = True
        self._wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def server_close(self) -> None:
        self.shutdown()
        if self._worker is not None:
            self._jobs.put(None)
        for conn in list(self.conns):
            conn.close()
        self.conns.clear()
        self._sel.close()
        for s in (self.socket, self._wake_r, self._wake_w):
            s.close()

    def serve_forever(self) -> None:
        next_sweep = 0.0
        while not self._stop:
            idle = not self.conns and self._resume_at is None  # no deadline to watch
            events = self._sel.select(None if idle else TICK)
            now = time.monotonic()
            for key, _ in events:
                try:
                    if key.data is None:
                        self._accept(now)
                    elif key.data is _WAKE:
                        self._finish_slow(now)
                    elif not key.data.closed:
                        self._ready(key.data, now)
                except Exception:  # a bug in here: that connection goes, the loop stays
                    log.error("HTTP server error", exc_info=True)
                    if isinstance(key.data, Connection):
                        self._close(key.data)
            if self._resume_at is not None and now >= self._resume_at:
                self._resume_at = None
                self._sel.register(self.socket, R, None)
            if now >= next_sweep:
                next_sweep = now + TICK
                for conn in [c for c in self.conns if c.deadline <= now and not c.working]:
                    log.debug("client %s: timed out", conn.peer)
                    self._close(conn)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full (already woken) or closed
            self._wake_w.send(b"\0")

    # --- connections ---------------------------------------------------------------------------
    def _accept(self, now: float) -> None:
        for _ in range(ACCEPT_BATCH):
            if len(self.conns) >= self.cap:
                self._full.warn(now, "%d client connections (open files limit minus a reserve):"
                                " closing the oldest idle ones to make room", self.cap)
                if not self._make_room():
                    return self._pause(now)
            try:
                sock, addr = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return None
            except OSError as e:
                if e.errno not in OUT_OF_FDS:
                    log.debug("accept: %s", e)
                    continue
                self._out_of_fds.warn(now, "cannot accept connections: %s; closing the oldest "
                                      "idle ones to make room", e.strerror or e)
                if not self._make_room():
                    return self._pause(now)
                continue
            self._open(sock, str(addr[0]), now)
        return None

    def _pause(self, now: float) -> None:
        """Nothing to close: stop accepting for a moment (a level-triggered listener would spin)."""
        self._sel.unregister(self.socket)
        self._resume_at = now + 0.1

    def _make_room(self) -> bool:
        """Close the oldest connection that never got an answer, else the oldest idle one."""
        idle = None
        for conn in self.conns:
            if conn.busy or conn.working:
                continue
            if conn.served == 0:
                idle = conn
                break
            idle = idle or conn
        if idle is None:
            return False
        log.debug("client %s: closed to make room", idle.peer)
        self._close(idle)
        return True

    def _open(self, sock: socket.socket, peer: str, now: float) -> None:
        sock.setblocking(False)
        web = self.web_config().config
        if web.tls is not None:
            try:
                sock = tls.wrap(sock, web)
            except OSError as e:
                log.debug("client %s: %s", peer, e)
                sock.close()
                return
        conn = Connection(sock, peer, web if web.tls is not None else None, now)
        self.conns[conn] = None
        self._sync(conn)

    def _close(self, conn: Connection) -> None:
        if conn.busy:
            conn.busy = False
            self.in_progress -= 1
        if conn.events:
            self._sel.unregister(conn.sock)
            conn.events = 0
        conn.close()
        self.conns.pop(conn, None)

    def _sync(self, conn: Connection) -> None:
        want = conn.wanted()
        if want != conn.events:
            if not conn.events:
                self._sel.register(conn.sock, want, conn)
            elif not want:
                self._sel.unregister(conn.sock)
            else:
                self._sel.modify(conn.sock, want, conn)
            conn.events = want

    def _ready(self, conn: Connection, now: float) -> None:
        if conn.handshaking:
            if not conn.handshake(now):
                return self._close(conn)
            if conn.handshaking:
                return self._sync(conn)
        if conn.out is not None:
            done = conn.flush()
            if done is None:
                return self._sync(conn)
            if done is False or self._answered(conn, now):
                return self._close(conn)
        elif not conn.read(now):
            return self._close(conn)
        self._serve(conn, now)
        if not conn.closed:
            self._sync(conn)
        return None

    # --- requests ------------------------------------------------------------------------------
    def _serve(self, conn: Connection, now: float) -> None:
        """Answer the requests buffered on ``conn``, one at a time, while answers go out."""
        while not conn.closed and conn.out is None and not conn.working and conn.inbuf:
            try:
                parsed = framing.parse(conn.inbuf)
            except framing.BadRequest as e:
                log.debug("client %s: %s", conn.peer, e)
                conn.inbuf.clear()
                return self._send(conn, framing.error(e.status, str(e)), False, True, now)
            if parsed is None:
                return None
            head, used = parsed
            close = not head.keep_alive or head.has_body
            del conn.inbuf[:len(conn.inbuf) if close else used]
            head_only = head.request.method == "HEAD"
            log.debug("client %s: %s %s", conn.peer, head.request.method, head.target)
            if self.max_requests and self.in_progress >= self.max_requests:
                self._send(conn, framing.error(503, f"limit of {self.max_requests} requests in"
                                               " progress reached, try again later"),
                           head_only, close, now)
                continue
            conn.busy = True
            self.in_progress += 1
            web = self.web_config()
            if self.app.slow(head.request, web):
                conn.working = True
                self._jobs.put((conn, head, head_only, close, web))
                self._start_worker()
                return None
            self._send(conn, self._handle(head, web, conn.peer), head_only, close, now)
        return None

    def _handle(self, head: framing.Head, web: Active, peer: str) -> Response:
        try:
            return self.app.handle(head.request, web)
        except Exception:
            log.error("client %s: request failed", peer, exc_info=True)
            return framing.error(500, "internal server error")

    def _send(self, conn: Connection, resp: Response, head_only: bool, close: bool,
              now: float) -> None:
        conn.answer(framing.parts(resp, head_only, close), close, now)
        done = conn.flush()
        if done is False or (done and self._answered(conn, now)):
            self._close(conn)

    def _answered(self, conn: Connection, now: float) -> bool:
        """The answer is written; True if the connection is to be closed now."""
        if conn.busy:
            conn.busy = False
            self.in_progress -= 1
        conn.answered(now)
        return conn.close_after

    # --- the worker for bcrypt checks ----------------------------------------------------------
    def _start_worker(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="http-auth", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            conn, head, head_only, close, web = job
            self._done.append((conn, self._handle(head, web, conn.peer), head_only, close))
            self._wake()

    def _finish_slow(self, now: float) -> None:
        with contextlib.suppress(OSError):  # until drained
            while self._wake_r.recv(4096):
                pass
        while self._done:
            conn, resp, head_only, close = self._done.popleft()
            if conn.closed:
                continue
            conn.working = False
            self._send(conn, resp, head_only, close, now)
            self._serve(conn, now)
            if not conn.closed:
                self._sync(conn)
