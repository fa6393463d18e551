"""Request heads: parsed only once complete, refused as soon as they break a limit or are not
HTTP at all; responses keep Content-Length for HEAD."""

import pytest

from nfacct_exporter.web import framing
from nfacct_exporter.web.app import Response


def test_a_complete_head_and_what_follows_it() -> None:
    buf = b"\r\nGET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept-Encoding:  gzip \r\n\r\nGET /"
    head, used = framing.parse(buf)
    assert buf[used:] == b"GET /"
    assert (head.request.method, head.request.path, head.request.query) == ("GET", "/metrics",
                                                                            "x=1")
    assert head.request.header("accept-encoding") == "gzip"
    assert head.keep_alive and not head.has_body


@pytest.mark.parametrize("head, keep", [
    (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", False),
    (b"GET / HTTP/1.0\r\n\r\n", False),
    (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", True),
    (b"GET / HTTP/1.1\n\n", True),
])
def test_keep_alive(head: bytes, keep: bool) -> None:
    assert framing.parse(head)[0].keep_alive is keep


def test_a_body_is_not_read() -> None:
    head, _ = framing.parse(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
    assert head.has_body
    assert framing.parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")[0].has_body


@pytest.mark.parametrize("buf", [b"GET / HTTP/1.1\r\nHo", b"GE", b"", b"\r\n"])
def test_incomplete(buf: bytes) -> None:
    assert framing.parse(buf) is None


@pytest.mark.parametrize("buf, status", [
    (b"\x16\x03\x01\x02\x00\x01\x00", 400),  # a TLS ClientHello on the plain port
    (b"GET /" + b"a" * 9000, 414),
    (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 20000, 431),
    (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\nX-" + b"a" * 70000 + b": b\r\n\r\n", 431),
    (b"GET /\r\n\r\n", 400),
    (b"GET / HTTP/1.1 x\r\n\r\n", 400),
    (b"GET / FTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"G(T / HTTP/1.1\r\n\r\n", 400),
    (b"GET /\x01 HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nX : y\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
])
def test_refused(buf: bytes, status: int) -> None:
    with pytest.raises(framing.BadRequest) as e:
        framing.parse(buf)
    assert e.value.status == status


def test_encode_head_keeps_content_length() -> None:
    resp = Response(200, "text/plain", b"abc", (("X-A", "b"),))
    full = b"".join(framing.parts(resp, head_only=False, close=True))
    head = b"".join(framing.parts(resp, head_only=True, close=False))
    assert full.startswith(b"HTTP/1.1 200 OK\r\n") and full.endswith(b"\r\n\r\nabc")
    assert b"Content-Length: 3\r\n" in head and head.endswith(b"\r\n\r\n")
    assert b"X-A: b\r\n" in head and b"Connection: close" in full
    assert b"Connection" not in head
    split = Response(200, "text/plain", (b"ab", b"", b"c"))
    assert framing.parts(split, head_only=False, close=False)[1:] == (b"ab", b"", b"c")
    assert b"Content-Length: 3\r\n" in framing.parts(split, head_only=True, close=False)[0]
