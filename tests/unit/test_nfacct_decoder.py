"""The ``struct`` NFACCT decoder against the declared pyroute2 ``nfacct.nfacct_msg``, same bytes.

First on a real dump captured from a namespace this test creates (quota objects, an over-quota
one, counters past 2**32, odd and maximal names, several datagrams); skipped without root. Then on
hand-made layouts the kernel does not send today (attributes reordered, padding, unknown or nested
attributes, truncation), which must leave the fast path for the generic one and still agree.
"""

import os
import struct

import pytest
from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST

from nfacct_exporter.netlink import core, nfacct
from nfacct_exporter.netlink.socket import NetfilterSocket
from nfacct_exporter.records import NfacctObject
from tests.support.netns import Netns

Row = tuple[str, int, int, int, int | None]

ODD_NAMES: list[str | bytes] = [
    "web server", "web_server", 'q"uote', "back\\slash", "new\nline", "tab\tx", "ünïcødé",
    b"\xff\xfe not utf-8", "x" * 31, "a", "ab", "abc", "abcd", "%d%s", ".lead", "a..b", "trail.",
]


def reference(datagrams: list[bytes]) -> list[Row]:
    """Every object, decoded by pyroute2 from the declared message class."""
    out = []
    for data in datagrams:
        off = 0
        while off + 16 <= len(data):
            length, mtype = struct.unpack_from("=IH", data, off)
            if length < 16 or off + length > len(data):
                break
            if mtype == nfacct.ACCT_NEW:
                msg = nfacct.nfacct_msg(data[off : off + length])
                msg.decode()
                name = msg.get_attr("NFACCT_NAME")
                if isinstance(name, bytes):  # pyroute2 hands back bytes that are not UTF-8
                    name = name.decode("utf-8", "surrogateescape")
                out.append((name, msg.get_attr("NFACCT_PKTS") or 0,
                            msg.get_attr("NFACCT_BYTES") or 0, msg.get_attr("NFACCT_FLAGS") or 0,
                            msg.get_attr("NFACCT_QUOTA")))
            off += (length + 3) & ~3
    return out


def ours(datagrams: list[bytes]) -> list[Row]:
    """``nfacct.decode`` driven as ``NetfilterSocket.dump_into`` drives it: it stops at each
    message that is not an object, which the socket steps over."""
    out: list[NfacctObject] = []
    for data in datagrams:
        off = 0
        while off + 16 <= len(data):
            off = nfacct.decode(memoryview(bytearray(data)), out, off)
            if off + 16 > len(data):
                break
            length = struct.unpack_from("=I", data, off)[0]
            if length < 16:
                break
            off += (length + 3) & ~3
    for o in out:  # what sinks read says what the kernel's flags say
        unit = ("packets" if o.flags & nfacct.NFACCT_F_QUOTA_PKTS else
                "bytes" if o.flags & nfacct.NFACCT_F_QUOTA_BYTES else None)
        assert o.quota_unit == (unit if o.quota is not None else None)
        assert o.over_quota == bool(o.flags & nfacct.NFACCT_F_OVERQUOTA)
    return [tuple(o)[:5] for o in out]


def new_object(name: str | bytes, seq: int, **attrs: int) -> bytes:
    """An ACCT_NEW request, optionally with initial counters, flags and quota."""
    msg = nfacct.nfacct_msg()
    msg["attrs"] = [("NFACCT_NAME", name)] + [(f"NFACCT_{k.upper()}", v) for k, v in attrs.items()]
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE
    return core.encode(msg, nfacct.ACCT_NEW, flags, seq)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespace)")
def test_kernel_dump_decodes_as_the_declared_messages() -> None:
    ns = Netns()
    try:
        sock = NetfilterSocket(ns.name)
        try:
            plain = [f"ipv{4 + 2 * (i % 2)}.svc{i:05d}" for i in range(1500)]  # several datagrams
            assert nfacct.create(sock, plain) == [0] * len(plain)
            special = [new_object(n, sock.next_seq()) for n in ODD_NAMES] + [
                new_object("big", sock.next_seq(), pkts=2**40 + 1, bytes=2**63 + 5),
                new_object("quota.pkts", sock.next_seq(), flags=nfacct.NFACCT_F_QUOTA_PKTS,
                           quota=2),
                new_object("quota.bytes", sock.next_seq(), flags=nfacct.NFACCT_F_QUOTA_BYTES,
                           quota=2**41),
            ]
            assert sock.transact(special) == [0] * len(special)
            ns.sh("iptables -A OUTPUT -p udp --dport 9 -m nfacct --nfacct-name quota.pkts")
            ns.udp("127.0.0.1", 9, b"x", count=3)  # over its quota of 2 packets
            data = [bytes(d) for d in sock.dump(nfacct.acct_dump_request(sock.next_seq()))]
            objects = nfacct.dump(sock)  # the exporter's path (dump_into)
        finally:
            sock.close()
    finally:
        ns.close()

    assert len(data) > 2
    dumped = [tuple(o)[:5] for o in objects]
    got = ours(data)
    assert got == reference(data) == dumped
    rows = {r[0]: r for r in got}
    assert len(rows) == len(plain) + len(ODD_NAMES) + 3
    for n in ODD_NAMES:
        text = n.decode("utf-8", "surrogateescape") if isinstance(n, bytes) else n
        assert rows[text] == (text, 0, 0, 0, None)
    assert rows["big"] == ("big", 2**40 + 1, 2**63 + 5, 0, None)
    over = nfacct.NFACCT_F_QUOTA_PKTS | nfacct.NFACCT_F_OVERQUOTA
    assert rows["quota.pkts"][1:] == (3, rows["quota.pkts"][2], over, 2)
    assert rows["quota.bytes"] == ("quota.bytes", 0, 0, nfacct.NFACCT_F_QUOTA_BYTES, 2**41)
    quotas = {o.name: (o.quota_unit, o.over_quota) for o in objects if o.quota is not None}
    assert quotas == {"quota.pkts": ("packets", True), "quota.bytes": ("bytes", False)}


def reply(*attrs: tuple[int, bytes]) -> bytes:
    """One ACCT_NEW reply message from raw (type, payload) attributes, in the order given."""
    body = b""
    for atype, payload in attrs:
        body += struct.pack("=HH", 4 + len(payload), atype) + payload
        body += bytes(-len(body) % 4)
    return struct.pack("=IHHII", 20 + len(body), nfacct.ACCT_NEW, 2, 7, 1) + bytes(4) + body


NAME = (nfacct.NFACCT_NAME, b"ipv4.http\0")
PKTS = (nfacct.NFACCT_PKTS, struct.pack(">Q", 19))
BYTES = (nfacct.NFACCT_BYTES, struct.pack(">Q", 1381))
USE = (nfacct.NFACCT_USE, struct.pack(">I", 1))
PAD = (8, b"")  # NFACCT_PAD, as 32-bit architectures insert before 64-bit values
NESTED_NAME = (nfacct.NFACCT_NAME | 0x8000, b"nested\0")  # NLA_F_NESTED set: must be masked


@pytest.mark.parametrize("attrs", [
    [NAME, PKTS, BYTES, USE],  # the kernel's layout: fast path
    [NAME, PKTS, BYTES],  # no USE: generic path
    [NAME, PAD, PKTS, PAD, BYTES, USE],
    [PKTS, BYTES, USE, NAME],
    [NAME, PKTS, BYTES, USE, (99, b"future!\0")],  # an attribute from a newer kernel
    [NAME, (nfacct.NFACCT_PKTS, struct.pack(">Q", 5)), BYTES, (nfacct.NFACCT_FLAGS, bytes(4))],
    [NAME, PKTS, (nfacct.NFACCT_USE, struct.pack(">Q", 1)), USE],  # a wrong length where BYTES was
    [NESTED_NAME, PKTS, BYTES, USE],
])
def test_hand_made_layouts_agree_with_the_declared_messages(attrs: list) -> None:
    data = reply(*attrs)
    got = ours([data])
    assert got == reference([data])
    assert len(got) == 1


def test_framing_truncation_and_foreign_messages() -> None:
    a = reply(NAME, PKTS, BYTES, USE)
    b = reply((nfacct.NFACCT_NAME, b"other\0"), PKTS, BYTES, USE)
    done = struct.pack("=IHHII", 20, 3, 2, 7, 1) + bytes(4)  # NLMSG_DONE
    error = struct.pack("=IHHII", 36, 2, 0, 7, 1) + bytes(20)  # NLMSG_ERROR (ack)
    data = a + error + b + done
    assert ours([data]) == reference([data]) == [("ipv4.http", 19, 1381, 0, None),
                                                 ("other", 19, 1381, 0, None)]
    cut = data[: len(a) + len(error) + 30]  # the second object is cut short: ignored
    assert ours([cut]) == [("ipv4.http", 19, 1381, 0, None)]
    assert ours([b"", bytes(10), struct.pack("=IHHII", 8, 0x700, 0, 0, 0) + bytes(20)]) == []


def test_names_are_decoded_once() -> None:
    """The same name in two polls is the same ``str`` object (and so cheap to compare)."""
    data = reply((nfacct.NFACCT_NAME, b"same.name\0"), PKTS, BYTES, USE)
    first, second = [], []
    nfacct.decode(data, first)
    nfacct.decode(data, second)
    assert first[0].name is second[0].name
