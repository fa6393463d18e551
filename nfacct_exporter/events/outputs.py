"""Where event lines go: a file (append), standard output, or a stream socket (TCP or UNIX).

Every output takes whole lines and never leaves a partial one behind: ``write`` raises
``WriteError`` saying how many bytes of the batch (always whole lines) made it, so the caller
keeps the rest. A file that cannot take a whole batch (disk full) is cut back to its last
complete line; a socket that fails mid-line is closed, and the line is sent again whole on the
next connection.

Files are opened with O_APPEND, so after logrotate's ``copytruncate`` lines go to the start of
the emptied file (no hole of NULs); ``check`` notices a file that was moved or removed
(logrotate's ``create``) by its inode and opens the path again, as ``reopen`` (SIGHUP) does.
"""

import contextlib
import os
import select
import socket

CONNECT_TIMEOUT = 5.0
SEND_TIMEOUT = 10.0  # a consumer that takes nothing for this long is dropped and reconnected


class WriteError(OSError):
    """A write that failed after ``done`` bytes of the batch (whole lines) were written."""

    def __init__(self, done: int, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.done = done


def _whole(data: bytes, done: int) -> int:
    """Bytes of ``data[:done]`` that are whole lines."""
    return data.rfind(b"\n", 0, done) + 1


class FileOutput:
    """Append to ``path`` (created 0640 if missing); re-opened when moved, removed or on SIGHUP."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = f"file {path}"
        self._fd = -1
        self._id: tuple[int, int] | None = None

    def open(self) -> None:
        self.close()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        st = os.fstat(fd)
        self._fd, self._id = fd, (st.st_dev, st.st_ino)

    def is_open(self) -> bool:
        return self._fd >= 0

    def check(self) -> None:
        """Open the path again if the file we write is no longer the one it names."""
        try:
            st = os.stat(self.path)
            moved = (st.st_dev, st.st_ino) != self._id
        except FileNotFoundError:
            moved = True
        if moved:
            self.open()

    reopen = open

    def write(self, data: bytes) -> None:
        done = 0
        view = memoryview(data)
        while done < len(data):
            try:
                done += os.write(self._fd, view[done:])
            except OSError as e:
                keep = _whole(data, done)
                if keep < done:  # take the partial line back out of the file
                    with contextlib.suppress(OSError):
                        os.ftruncate(self._fd, os.fstat(self._fd).st_size - (done - keep))
                raise WriteError(keep, e) from None

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd, self._id = -1, None


class StdoutOutput(FileOutput):
    """Standard output (journald under systemd): never re-opened."""

    def __init__(self) -> None:
        super().__init__("<stdout>")
        self.name = "stdout"

    def open(self) -> None:
        self._fd = 1

    def check(self) -> None:
        pass

    reopen = open

    def close(self) -> None:
        self._fd = -1


def parse_socket(spec: str) -> tuple[int, str | tuple[str, int]]:
    """``tcp://HOST:PORT`` or ``unix:PATH`` → (address family, address); ValueError if neither."""
    if spec.startswith("unix:"):
        path = spec[5:]
        if not path:
            raise ValueError("unix: needs a socket path")
        return socket.AF_UNIX, path
    if spec.startswith("tcp://"):
        host, sep, port = spec[6:].rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected tcp://HOST:PORT")
        return socket.AF_INET6 if ":" in host else socket.AF_INET, (host, int(port))
    raise ValueError("expected tcp://HOST:PORT or unix:PATH")


class SocketOutput:
    """A stream connection, one JSON object per line (logstash ``tcp`` input, ``json_lines``).

    Before each batch the connection is checked for the peer's end of stream: a consumer that
    closed its side is reconnected before anything is written into the void.
    """

    def __init__(self, spec: str) -> None:
        self.family, self.address = parse_socket(spec)
        self.name = f"socket {spec}"
        self._sock: socket.socket | None = None

    def open(self) -> None:
        self.close()
        if self.family == socket.AF_UNIX:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            try:
                s.settimeout(CONNECT_TIMEOUT)
                s.connect(self.address)
            except OSError:
                s.close()
                raise
        else:
            host, port = self.address  # type: ignore[misc]
            s = socket.create_connection((host, port), CONNECT_TIMEOUT)
        s.settimeout(SEND_TIMEOUT)
        self._sock = s

    def is_open(self) -> bool:
        return self._sock is not None

    def check(self) -> None:
        """Reconnect now if the consumer has closed its end (or reset the connection)."""
        if self._sock is not None and _closed_by_peer(self._sock):
            self.open()

    reopen = open

    def write(self, data: bytes) -> None:
        done = 0
        view = memoryview(data)
        s = self._sock
        try:
            if s is None:
                raise ConnectionError("not connected")
            while done < len(data):
                done += s.send(view[done:], socket.MSG_NOSIGNAL)
        except OSError as e:
            self.close()  # the next connection starts with the first line not sent whole
            raise WriteError(_whole(data, done), e) from None

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = None


def _closed_by_peer(s: socket.socket) -> bool:
    p = select.poll()
    p.register(s, select.POLLIN | select.POLLRDHUP)
    for _fd, ev in p.poll(0):
        if ev & (select.POLLRDHUP | select.POLLHUP | select.POLLERR):
            return True
        try:  # the consumer sent something: not ours to read, but it may end with EOF
            return s.recv(65536, socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
    return False


def output_for(file: str | None = None, stdout: bool = False, socket_spec: str | None = None
               ) -> "FileOutput | SocketOutput":
    """The output one ``events:`` section names (exactly one of the three)."""
    if file is not None:
        return FileOutput(file)
    if stdout:
        return StdoutOutput()
    if socket_spec is not None:
        return SocketOutput(socket_spec)
    raise ValueError("events need a file, stdout or socket")
