"""The compiled fast path gives the reference path's bytes: a first packet teaches the layout,
then packets of the same layout with other values (ports, addresses, sequence numbers, times,
lengths) must render exactly as the reference renders them."""

import struct

import pytest

from nfacct_exporter.events import packet
from nfacct_exporter.events.json_format import EventFormat
from tests.support.events_data import attr, ipv4, ipv6, loopback, tcp


def names(index: int) -> str:
    return {1: "lo", 7: 'we"ird\\xff'}.get(index, "")


def pair(action: str | None = "allowed") -> tuple[EventFormat, EventFormat]:
    return (EventFormat(2, "ulogd", "fw %s", lambda p: action, names),
            EventFormat(2, "ulogd", "fw %s", lambda p: action, names, fast=False))


def udp(sport: int, dport: int, size: int) -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + size, 0xBEEF) + b"u" * size


def icmp(itype: int, code: int, a: int, b: int, csum: int = 0x1234) -> bytes:
    return struct.pack(">BBHHH", itype, code, csum, a, b) + b"x" * 8


def extra(seq: int, mark: int | None = None, outdev: int | None = None) -> bytes:
    out = attr(12, struct.pack(">I", seq))
    if mark is not None:
        out += attr(2, struct.pack(">I", mark))
    if outdev is not None:
        out += attr(5, struct.pack(">I", outdev))
    return out


SHAPES = {
    "tcp syn": lambda i: loopback(ipv4(6, tcp(sport=40000 + i, seq=i * 7919), src=f"10.0.0.{i}",
                                       ident=i, csum=i * 3), extra=extra(i)),
    "tcp urg ack": lambda i: loopback(ipv4(6, tcp(flags=0x30, urgp=i, sport=1000 + i)),
                                      extra=extra(i, mark=i)),
    "udp v4 big": lambda i: loopback(ipv4(17, udp(5000 + i, 53, 1400 + i))[:128],
                                     extra=extra(i, outdev=7)),
    "icmp echo": lambda i: loopback(ipv4(1, icmp(8, 0, 77, i, csum=i * 257)), extra=extra(i)),
    "icmp frag needed": lambda i: loopback(ipv4(1, icmp(3, 4, 0, 1400 - i)), extra=extra(i)),
    "icmp unreachable": lambda i: loopback(ipv4(1, icmp(3, 3, 0, 0, csum=i)), extra=extra(i)),
    "tcp v6": lambda i: loopback(ipv6(6, tcp(dport=22, seq=i), src=f"2001:db8::{i + 1}"),
                                 proto=0x86DD, extra=extra(i)),
    "udp v6 big": lambda i: loopback(ipv6(17, udp(i, 53, 900 + i))[:128], proto=0x86DD,
                                     extra=extra(i)),
    "icmpv6 echo": lambda i: loopback(ipv6(58, icmp(128, 0, 9, i, csum=i)), proto=0x86DD,
                                      extra=extra(i)),
    "no timestamp": lambda i: loopback(ipv4(6, tcp(seq=i)), ts=None, extra=extra(i)),
    "new second": lambda i: loopback(ipv4(6, tcp(seq=i)), ts=(1795778903 + i, i * 1000),
                                     extra=extra(i)),
    "hop-by-hop v6 (reference only)": lambda i: loopback(
        ipv6(0, bytes([6, 0]) + bytes(6) + tcp(seq=i)), proto=0x86DD, extra=extra(i)),
    "odd prefix": lambda i: loopback(ipv4(6, tcp(seq=i)), prefix=b'100% "\xff"', extra=extra(i)),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_fast_path_gives_the_reference_bytes(shape: str) -> None:
    fast, slow = pair()
    make = SHAPES[shape]
    first = make(1)
    assert fast.lines(first, 1700000000.5) == slow.lines(first, 1700000000.5)
    for i in range(2, 12):
        data = make(i) + make(i + 100)
        now = 1700000000.5 + i
        assert fast.lines(data, now) == slow.lines(data, now), shape
    covered = fast._fast is not None and any(fast._fast._layouts.values())
    assert covered == ("reference only" not in shape)


def test_a_different_layout_with_the_same_key_is_learnt_too() -> None:
    fast, slow = pair("blocked")
    syn = loopback(ipv4(6, tcp(flags=0x02)), extra=extra(1))
    rst = loopback(ipv4(6, tcp(flags=0x04)), extra=extra(2))  # same length and prefix
    for data in (syn, rst, syn, rst, syn + rst):
        assert fast.lines(data, 1.0) == slow.lines(data, 1.0)
    assert len(next(iter(fast._fast._layouts.values()))) == 2


def test_length_field_shorter_than_the_copy_takes_the_reference_path() -> None:
    fast, slow = pair()
    good = loopback(ipv4(6, tcp(), totlen=60), extra=extra(1))
    bogus = loopback(ipv4(6, tcp(), totlen=30), extra=extra(2))
    for data in (good, bogus, good + bogus):
        assert fast.lines(data, 1.0) == slow.lines(data, 1.0)


real_decode = packet.decode


def zero_time(i: int) -> bytes:
    """A timestamp attribute that says 0 (the reference takes the receive time), or only the
    upper half of the seconds set (the reference writes 0)."""
    return loopback(ipv4(6, tcp(seq=i)), ts=(0 if i % 2 else 1 << 32, i), extra=extra(i))


RUNS = {
    "one long run": ["tcp syn"] * 300,
    "broken in the middle": ["udp v4 big"] * 40 + ["icmp echo"] + ["udp v4 big"] * 60,
    "flags vary": ["tcp syn", "tcp urg ack"] * 20 + ["tcp syn"] * 20,
    "v6 and v4": ["tcp v6"] * 30 + ["udp v6 big"] * 9 + ["tcp v6"] * 30 + ["icmpv6 echo"] * 3,
    "icmp types": ["icmp echo"] * 10 + ["icmp frag needed"] * 10 + ["icmp unreachable"] * 10,
    "seconds change": ["new second"] * 50,
    "not covered in between": ["tcp syn"] * 20 + ["hop-by-hop v6 (reference only)"] * 3
                              + ["tcp syn"] * 20,
    "no timestamp": ["no timestamp"] * 30 + ["tcp syn"] * 30,
}


@pytest.mark.parametrize("run", RUNS)
def test_runs_of_one_layout_give_the_reference_bytes(run: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = pair("blocked")
    shapes = RUNS[run]
    data = b"".join(SHAPES[s](i % 200 + 1) for i, s in enumerate(shapes))
    assert fast.render(data, 1700000000.5) == slow.render(data, 1700000000.5)  # learns
    want = slow.render(data, 1700000001.25)
    decoded = []
    monkeypatch.setattr(packet, "decode", lambda *a: decoded.append(a) or real_decode(*a))
    assert fast.render(data, 1700000001.25) == want and want[1] == len(shapes)
    assert len(decoded) == sum("reference only" in s for s in shapes)  # the rest: compiled


def test_zero_timestamps_inside_a_run() -> None:
    fast, slow = pair()
    tcp_of = SHAPES["tcp syn"]
    data = b"".join(tcp_of(i) if i % 5 else zero_time(i) for i in range(1, 60))
    for now in (1700000000.5, 1700000002.75):
        assert fast.render(data, now) == slow.render(data, now)


def test_a_truncated_last_message_ends_the_datagram() -> None:
    fast, slow = pair()
    good = b"".join(SHAPES["tcp syn"](i) for i in range(20))
    for cut in (1, 4, 21, 60):
        data = good + SHAPES["tcp syn"](99)[:-cut]
        assert fast.render(data, 5.0) == slow.render(data, 5.0)
        assert fast.render(data, 5.0)[1] == 20
