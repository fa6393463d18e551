"""HTTP/1.1 framing: request heads parsed within size limits, responses serialised.

A head is only parsed once complete (the blank line seen), but limits and obvious garbage (a
TLS ClientHello on the plain port) are refused as soon as the buffered bytes show them, so a
client cannot make the server hold more than ``MAX_HEAD`` bytes of it.
"""

import re
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus

from nfacct_exporter import __version__
from nfacct_exporter.web.app import TEXT, Request, Response

MAX_LINE = 8 * 1024  # request line
MAX_HEAD = 64 * 1024  # request line and headers
MAX_HEADERS = 100
SERVER = f"nfacct-exporter/{__version__}"
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   b"abcdefghijklmnopqrstuvwxyz")
_END = re.compile(rb"\r?\n\r?\n")
_VERSION = re.compile(rb"HTTP/(\d)\.(\d)")
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


class BadRequest(Exception):
    """A request the server answers with ``status`` and a close."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


@dataclass(frozen=True)
class Head:
    request: Request
    target: str
    keep_alive: bool  # the client allows another request on this connection
    has_body: bool  # not read: the connection is closed after the answer


def parse(buf: bytes | bytearray) -> tuple[Head, int] | None:
    """The request head at the start of ``buf`` and the bytes it took; None while incomplete."""
    start = 0
    while start < len(buf) and start <= MAX_HEAD and buf[start] in b"\r\n":  # RFC 9112 2.2
        start += 1
    end = _END.search(buf, start)
    if end is None:
        first = buf.find(b"\n", start)
        if first < 0 and len(buf) - start > MAX_LINE:
            raise BadRequest(414, "request line too long")
        if len(buf) > MAX_HEAD:
            raise BadRequest(431, "request head too large")
        method = bytes(buf[start:first if first >= 0 else len(buf)]).partition(b" ")[0]
        if method.rstrip(b"\r") and not _TOKEN.issuperset(method.rstrip(b"\r")):
            raise BadRequest(400, "not an HTTP request")
        return None
    if end.end() > MAX_HEAD:
        raise BadRequest(431, "request head too large")
    lines = [line.rstrip(b"\r") for line in bytes(buf[start:end.start()]).split(b"\n")]
    if len(lines[0]) > MAX_LINE:
        raise BadRequest(414, "request line too long")
    if len(lines) - 1 > MAX_HEADERS:
        raise BadRequest(431, "too many headers")
    method, target, version = _request_line(lines[0])
    headers = dict(_header(line) for line in lines[1:])
    low = {k.lower(): v for k, v in headers.items()}
    tokens = {t.strip().lower() for t in low.get("connection", "").split(",")}
    keep = "close" not in tokens if version >= (1, 1) else "keep-alive" in tokens
    length = low.get("content-length", "0").strip()
    if not length.isdigit():
        raise BadRequest(400, "bad Content-Length")
    path, _, query = target.partition("?")
    return Head(Request(method, path, query, headers), target, keep,
                "transfer-encoding" in low or int(length) > 0), end.end()


def _request_line(line: bytes) -> tuple[str, str, tuple[int, int]]:
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[1] or _CONTROL.search(parts[1]) \
            or not _TOKEN.issuperset(parts[0]) or not parts[0]:
        raise BadRequest(400, "bad request line")
    version = _VERSION.fullmatch(parts[2])
    if version is None:
        raise BadRequest(400, "bad HTTP version")
    major, minor = int(version[1]), int(version[2])
    if major != 1:
        raise BadRequest(505, "HTTP version not supported")
    return parts[0].decode(), parts[1].decode("latin-1"), (major, minor)


def _header(line: bytes) -> tuple[str, str]:
    name, sep, value = line.partition(b":")
    if not sep or not name or not _TOKEN.issuperset(name):
        raise BadRequest(400, "bad header line")
    return name.decode(), value.strip(b" \t").decode("latin-1")


def parts(resp: Response, head_only: bool, close: bool) -> tuple[bytes, ...]:
    """Status line and headers (Content-Length always, as for HEAD), then the body's parts
    unless HEAD: written in turn, the body is never copied behind the head."""
    try:
        reason = HTTPStatus(resp.status).phrase
    except ValueError:
        reason = ""
    body = (resp.body,) if isinstance(resp.body, bytes) else tuple(resp.body)
    lines = [f"HTTP/1.1 {resp.status} {reason}", f"Server: {SERVER}",
             f"Date: {formatdate(usegmt=True)}", f"Content-Type: {resp.content_type}",
             f"Content-Length: {sum(map(len, body))}"]
    lines += [f"{k}: {v}" for k, v in resp.headers]
    if close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    return (head,) if head_only else (head, *body)


def error(status: int, why: str) -> Response:
    """The server's own answer to a request it refused before the app saw it."""
    return Response(status, TEXT, f"{status} {why}\n".encode())
