"""Reference NFLOG decoding through the declared pyroute2 classes (slow, obviously right), to check
the ``struct`` tally against; and builders of synthetic NFLOG datagrams."""

import struct

from nfacct_exporter.netlink import core, nflog, nflog_tally


def reference(datagrams: list[bytes], expect: int = 0) -> tuple[dict[bytes, list[int]], int, int]:
    """({raw prefix: [packets, ip bytes]}, next seq, lost) via ``nflog.nflog_packet_msg``."""
    counts: dict[bytes, list[int]] = {}
    lost = 0
    for data in datagrams:
        off = 0
        while off + 16 <= len(data):
            length, mtype = struct.unpack_from("=IH", data, off)
            if mtype == nflog.ULOG_PACKET:
                msg = nflog.nflog_packet_msg(data[off : off + length])
                msg.decode()
                prefix = msg.get_attr("NFULA_PREFIX")
                raw = nflog.EMPTY if prefix is None else (
                    prefix if isinstance(prefix, bytes) else prefix.encode()) + b"\0"
                payload = msg.get_attr("NFULA_PAYLOAD")
                body = bytes.fromhex(payload.replace(":", "")) if payload else b""
                size = 0
                if len(body) >= 4 and body[0] >> 4 == 4:
                    size = int.from_bytes(body[2:4], "big")
                elif len(body) >= 6 and body[0] >> 4 == 6:
                    size = int.from_bytes(body[4:6], "big") + 40
                c = counts.setdefault(raw, [0, 0])
                c[0] += 1
                c[1] += size
                seq = msg.get_attr("NFULA_SEQ")
                if seq is not None:
                    lost += (seq - expect) % 2**32
                    expect = (seq + 1) % 2**32
            off += (length + 3) & ~3
    return counts, expect, lost


def tally_all(datagrams: list[bytes], expect: int = 0) -> tuple[dict[bytes, list[int]], int, int]:
    """The same through ``nflog.tally`` (no cardinality cap)."""
    counts: dict[bytes, list[int]] = {}

    def admit(raw: bytes) -> list[int]:
        c = counts[raw] = [0, 0]
        return c

    lost = 0
    for data in datagrams:
        expect, n, _ = nflog_tally.tally(data, counts, admit, expect)
        lost += n
    return counts, expect, lost


def ipv4(total_length: int) -> bytes:
    return bytes([0x45, 0]) + total_length.to_bytes(2, "big") + bytes(4)


def ipv6(payload_length: int) -> bytes:
    return bytes([0x60, 0, 0, 0]) + payload_length.to_bytes(2, "big") + bytes([17, 64])


def packet(group: int, seq: int | None, prefix: bytes | None, payload: bytes | None) -> bytes:
    """One NFULNL_MSG_PACKET as the kernel lays it out (header, prefix, seq, payload last)."""
    msg = nflog.nflog_packet_msg()
    msg["nfgen_family"] = 10 if payload and payload[0] >> 4 == 6 else 2
    attrs: list = [("NFULA_PACKET_HDR", {"hw_protocol": 0x0800, "hook": 1})]
    if prefix is not None:
        attrs.append(("NFULA_PREFIX", prefix))
    attrs.append(("NFULA_IFINDEX_INDEV", 1))
    if seq is not None:
        attrs.append(("NFULA_SEQ", seq))
    if payload is not None:
        attrs.append(("NFULA_PAYLOAD", payload))
    msg["attrs"] = attrs
    return core.encode(msg, nflog.ULOG_PACKET, 0, 0, res_id=group)


def datagram(*packets: bytes) -> bytes:
    """Messages in one datagram, each padded to 4 bytes as netlink aligns them."""
    return b"".join(p + bytes(-len(p) % 4) for p in packets)
