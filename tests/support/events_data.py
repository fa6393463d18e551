"""Synthetic NFLOG datagrams for the event tests: the attributes the kernel sends for a packet
logged on loopback, around IPv4/IPv6 and TCP headers built field by field."""

import socket
import struct


def attr(atype: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), atype) + payload
    return raw + bytes(-len(raw) % 4)


def message(*attrs: bytes, family: int = 2, group: int = 2) -> bytes:
    body = struct.pack("=BBH", family, 0, socket.htons(group)) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), 0x0400, 0, 0, 0) + body


def ipv4(proto: int, l4: bytes, totlen: int | None = None, frag: int = 0x4000,
         src: str = "127.0.0.1", dst: str = "127.0.0.1", ident: int = 1637,
         csum: int = 13909) -> bytes:
    n = totlen if totlen is not None else 20 + len(l4)
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, n, ident, frag, 64, proto, csum,
                       socket.inet_aton(src), socket.inet_aton(dst)) + l4


def ipv6(nxt: int, rest: bytes, plen: int | None = None, src: str = "::1",
         dst: str = "::1") -> bytes:
    n = plen if plen is not None else len(rest)
    return struct.pack(">IHBB16s16s", 6 << 28 | 0x12 << 20 | 0xABCDE, n, nxt, 64,
                       socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + rest


def tcp(sport: int = 40844, dport: int = 80, flags: int = 0x02, seq: int = 510883576,
        offres: int = 0xA0, urgp: int = 0) -> bytes:
    return struct.pack(">HHIIBBHHH", sport, dport, seq, 0, offres, flags, 65495, 65072,
                       urgp) + bytes(20)


def loopback(payload: bytes, prefix: bytes | None = b"http-accept", proto: int = 0x0800,
             ts: tuple[int, int] | None = (1795778903, 452295), extra: bytes = b"") -> bytes:
    attrs = [attr(1, struct.pack(">HBx", proto, 1))]
    if prefix is not None:
        attrs.append(attr(10, prefix + b"\0"))
    if ts is not None:
        attrs.append(attr(3, struct.pack(">QQ", *ts)))
    attrs += [attr(4, struct.pack(">I", 1)), attr(15, struct.pack(">H", 772)),
              attr(17, struct.pack(">H", 14)), attr(16, bytes(14)),
              attr(8, struct.pack(">H2x8s", 6, bytes(8))), extra, attr(9, payload)]
    return message(*attrs, family=2 if proto == 0x0800 else 10)


def tcp_datagram(count: int, seq0: int = 0, prefix: bytes = b"p") -> bytes:
    """``count`` TCP SYNs in one datagram, numbered from ``seq0`` (``oob.seq.local``)."""
    return b"".join(loopback(ipv4(6, tcp(seq=seq0 + i)), prefix=prefix,
                             extra=attr(12, struct.pack(">I", seq0 + i))) for i in range(count))
