"""NFLOG packet → ulogd2 keys and JSON lines, on synthetic datagrams (the kernel-made ones are
compared with a real ulogd2 in ``tests/kernel/test_events_ulogd.py``)."""

import json
import os
import struct
import time

import pytest

from nfacct_exporter.events import base, packet
from nfacct_exporter.events.json_format import EventFormat, boolean_label, ulogd_timestamp
from tests.support.events_data import attr, ipv4, ipv6, loopback, tcp

# The first event of the sample captured from ulogd 2.0.8 (group 2, boolean_label=1), TZ=UTC.
SAMPLE = ('{"timestamp": "2026-11-27T11:28:23.452295", "dvc": "Netfilter", "raw.pktlen": 60, '
          '"raw.pktcount": 1, "oob.prefix": "http-accept", "oob.time.sec": 1795778903, '
          '"oob.time.usec": 452295, "oob.mark": 0, "oob.ifindex_in": 1, "oob.hook": 1, '
          '"raw.mac_len": 14, "oob.family": 2, "oob.protocol": 2048, "action": "allowed", '
          '"raw.type": 772, "raw.mac.addrlen": 6, "ip.protocol": 6, "ip.tos": 0, "ip.ttl": 64, '
          '"ip.totlen": 60, "ip.ihl": 5, "ip.csum": 13909, "ip.id": 1637, "ip.fragoff": 16384, '
          '"src_port": 40844, "dest_port": 80, "tcp.seq": 510883576, "tcp.ackseq": 0, '
          '"tcp.window": 65495, "tcp.offset": 0, "tcp.reserved": 0, "tcp.urg": 0, "tcp.ack": 0, '
          '"tcp.psh": 0, "tcp.rst": 0, "tcp.syn": 1, "tcp.fin": 0, "tcp.res1": 0, "tcp.res2": 0, '
          '"tcp.csum": 65072, "oob.in": "lo", "oob.out": "", "src_ip": "127.0.0.1", '
          '"dest_ip": "127.0.0.1"}\n')


def names(index: int) -> str:
    return {1: "lo", 7: "eth\\xff"}.get(index, "")


def render(data: bytes, fmt: str = "ulogd", action: str | None = "allowed",
           dvc: str = "Netfilter") -> list[bytes]:
    return EventFormat(2, fmt, dvc, lambda prefix: action, names).lines(data, time.time())


@pytest.fixture
def utc():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_the_sample_event_byte_for_byte(utc: None) -> None:
    data = loopback(ipv4(6, tcp()))
    assert render(data) == [SAMPLE.encode()]


def test_headers_only_copy_still_reports_the_full_length(utc: None) -> None:
    full = ipv4(6, tcp() + bytes(1400))
    line = json.loads(render(loopback(full[:128]))[0])
    assert line["raw.pktlen"] == 1460 and line["ip.totlen"] == 1460
    assert line["tcp.seq"] == 510883576


def test_timestamps_local_offset_as_ulogd_writes_it() -> None:
    old = os.environ.get("TZ")
    try:
        for tz, want in (("UTC", "2026-11-27T11:28:23.000042"),
                         ("Europe/Paris", "2026-11-27T12:28:23.000042+0100"),
                         ("America/St_Johns", "2026-11-27T07:58:23.000042-0330")):
            os.environ["TZ"] = tz
            time.tzset()
            assert ulogd_timestamp(1795778903, 42) == want
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_no_kernel_timestamp_takes_the_receive_time() -> None:
    fmt = EventFormat(2, "ulogd", "fw", lambda p: None, names)
    line = json.loads(fmt.lines(loopback(ipv4(6, tcp()), ts=None), 1700000000.25)[0])
    assert (line["oob.time.sec"], line["oob.time.usec"]) == (1700000000, 250000)
    assert "action" not in line and line["dvc"] == "fw"


def test_tcp_flags_urgent_pointer_and_ulogd_quirks(utc: None) -> None:
    # URG|ACK|PSH|FIN + ECE, one reserved bit: res1/res2 are booleans, offset/reserved 0
    line = json.loads(render(loopback(ipv4(6, tcp(flags=0x79, offres=0x51, urgp=7))))[0])
    assert [line[f"tcp.{k}"] for k in ("urg", "urgp", "ack", "psh", "rst", "syn", "fin",
                                      "res1", "res2", "offset", "reserved")] == \
        [1, 7, 1, 1, 0, 0, 1, 1, 1, 0, 0]
    assert "tcp.urgp" not in json.loads(render(loopback(ipv4(6, tcp())))[0])


def test_udp_icmp_and_icmp_quirks(utc: None) -> None:
    udp = struct.pack(">HHHH", 5353, 53, 12, 0xBEEF) + b"abcd"
    d = json.loads(render(loopback(ipv4(17, udp)))[0])
    assert (d["src_port"], d["dest_port"], d["udp.len"], d["udp.csum"]) == (5353, 53, 12, 0xBEEF)
    echo = struct.pack(">BBHHH", 8, 0, 0x1234, 77, 3) + b"ping"
    d = json.loads(render(loopback(ipv4(1, echo)))[0])
    assert (d["icmp.type"], d["icmp.code"], d["icmp.echoid"], d["icmp.echoseq"]) == (8, 0, 77, 3)
    assert d["icmp.csum"] == 0x3412  # read in host byte order, as ulogd does
    frag = struct.pack(">BBHHH", 3, 4, 0, 0, 1400) + bytes(28)
    d = json.loads(render(loopback(ipv4(1, frag)))[0])
    assert d["icmp.fragmtu"] == 1400 and "icmp.echoid" not in d and "icmp.gateway" not in d


def test_ipv6_icmpv6_and_extension_headers(utc: None) -> None:
    echo = struct.pack(">BBHHH", 128, 0, 0xAB01, 9, 1) + b"x" * 8
    d = json.loads(render(loopback(ipv6(58, echo, src="2001:db8::1"), proto=0x86DD))[0])
    assert (d["src_ip"], d["dest_ip"], d["ip.protocol"], d["ip6.nexthdr"]) == \
        ("2001:db8::1", "::1", 58, 58)
    assert (d["icmpv6.type"], d["icmpv6.echoid"], d["icmpv6.echoseq"], d["icmpv6.csum"]) == \
        (128, 9, 1, 0x01AB)
    assert (d["ip6.priority"], d["ip6.flowlabel"], d["ip6.hoplimit"]) == (0x12, 0xABCDE, 64)
    assert d["raw.pktlen"] == 40 + 16 and d["oob.family"] == 10
    # hop-by-hop options, then TCP
    hbh = bytes([6, 0]) + bytes(6)
    d = json.loads(render(loopback(ipv6(0, hbh + tcp(dport=22)), proto=0x86DD))[0])
    assert (d["ip.protocol"], d["ip6.nexthdr"], d["dest_port"]) == (6, 6, 22)
    # a non-first fragment: no L4 keys, no ip.protocol
    fragh = struct.pack(">BBHI", 17, 0, 1448 | 1, 0xDEADBEEF)
    d = json.loads(render(loopback(ipv6(44, fragh + bytes(16)), proto=0x86DD))[0])
    assert (d["ip6.fragoff"], d["ip6.fragid"], d["ip6.nexthdr"]) == (1448, 0xDEADBEEF, 17)
    assert "ip.protocol" not in d and "src_port" not in d
    keys = list(d)
    assert keys.index("ip6.hoplimit") < keys.index("ip6.nexthdr") < keys.index("ip6.fragoff")


def test_truncated_and_odd_payloads_never_fail() -> None:
    for payload in (b"", b"\x45", ipv4(6, b"")[:20], ipv4(6, tcp())[:30], bytes(3),
                    ipv6(44, b"")[:40], ipv6(0, b"\x06\xff")):
        for proto in (0x0800, 0x86DD, 0x0806):
            for line in render(loopback(payload, proto=proto)):
                json.loads(line)
    assert base.packet_length(2, 0x0800, ipv4(6, b"", totlen=1500)[:20]) == 1500


@pytest.mark.parametrize("prefix, text", [
    (b'q"uote\\back', 'q"uote\\back'), (b"new\nline\ttab\x01", "new\nline\ttab\x01"),
    ("ünï".encode(), "ünï"), (b"\xff\xfe bad", "\\xff\\xfe bad"), (b"", "")])
def test_hostile_prefixes_are_valid_json_and_utf8(prefix: bytes, text: str) -> None:
    for fmt in ("ulogd", "ecs"):
        line = render(loopback(ipv4(6, tcp()), prefix=prefix), fmt)[0]
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        d = json.loads(line.decode("utf-8"))
        assert (d["oob.prefix"] if fmt == "ulogd" else d["rule"]["name"]) == text


def test_no_prefix_attribute_writes_no_prefix() -> None:
    assert "oob.prefix" not in json.loads(render(loopback(ipv4(6, tcp()), prefix=None))[0])


def test_seq_uid_gid_mark_outdev_and_several_messages() -> None:
    extra = (attr(12, struct.pack(">I", 41)) + attr(11, struct.pack(">I", 1000))
             + attr(14, struct.pack(">I", 100)) + attr(2, struct.pack(">I", 0xFF))
             + attr(5, struct.pack(">I", 7)))
    one = loopback(ipv4(6, tcp()), extra=extra)
    lines = render(one + one + b"\x14\x00\x00\x00\x03\x00" + bytes(14))  # + NLMSG_DONE
    assert len(lines) == 2
    d = json.loads(lines[0])
    assert (d["oob.seq.local"], d["oob.uid"], d["oob.gid"], d["oob.mark"]) == (41, 1000, 100, 255)
    assert (d["oob.ifindex_out"], d["oob.out"]) == (7, "eth\\xff")
    keys = list(d)
    assert keys.index("oob.hook") < keys.index("oob.seq.local") < keys.index("oob.family")
    assert keys.index("oob.protocol") < keys.index("oob.uid") < keys.index("action")


def test_ecs_fields(utc: None) -> None:
    d = json.loads(render(loopback(ipv4(6, tcp())), "ecs", "blocked", dvc="My FW")[0])
    assert d["@timestamp"] == "2026-11-27T11:28:23.452295Z"
    assert d["source"] == {"ip": "127.0.0.1", "port": 40844}
    assert d["destination"] == {"ip": "127.0.0.1", "port": 80}
    assert d["event"]["action"] == "blocked" and "denied" in d["event"]["type"]
    assert d["observer"]["name"] == "My FW"
    assert d["observer"]["ingress"]["interface"]["name"] == "lo"
    assert d["network"] == {"bytes": 60, "packets": 1, "type": "ipv4", "iana_number": "6",
                            "transport": "tcp"}
    assert d["rule"]["name"] == "http-accept" and d["netfilter"]["tcp_flags"] == ["SYN"]


def test_boolean_label_of_verdicts() -> None:
    assert [boolean_label(v) for v in ("accept", "drop", "reject", "log")] == \
        ["allowed", "blocked", "blocked", None]


def test_decoder_reads_every_attribute() -> None:
    data = loopback(ipv4(6, tcp()))
    ((off, end),) = packet.messages(data)
    p = packet.decode(data, off + 16, end)
    assert (p.family, p.hw_protocol, p.hook, p.indev, p.hwtype, p.hwlen, p.hw_addrlen) == \
        (2, 0x0800, 1, 1, 772, 14, 6)
    assert p.prefix == b"http-accept" and p.time == (1795778903, 452295)
