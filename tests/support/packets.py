"""Raw packets conntrack sees as invalid or as errors, built by hand for raw sockets."""

import socket
import struct


def checksum(data: bytes) -> int:
    s = sum(struct.unpack(f"!{len(data) // 2}H", data + b"\0" * (len(data) % 2)))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


def tcp(sport: int, dport: int, flags: int) -> bytes:
    hdr = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 1024, 0, 0)
    pseudo = socket.inet_aton("127.0.0.1") * 2 + struct.pack("!BBH", 0, 6, len(hdr))
    return hdr[:16] + struct.pack("!H", checksum(pseudo + hdr)) + hdr[18:]


def icmp_unreachable(dport: int) -> bytes:
    """ICMP port unreachable quoting a UDP datagram of a flow conntrack never saw."""
    inner_ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 1, 0, 64, 17, 0,
                           socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1"))
    inner = inner_ip + struct.pack("!HHHH", 40000, dport, 8, 0)
    body = struct.pack("!BBHI", 3, 3, 0, 0) + inner
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]
