"""Our NFLOG events against a real ulogd2 on the same packets.

Every test packet matches two rules: one logs it to a group bound by ulogd2 with the JSON stack
NFLOG→BASE→IFINDEX→IP2STR→JSON (boolean_label=1), the other to a group bound here, with only
128 bytes copied, and rendered by ``nfacct_exporter.events``. For each packet our object must
hold every key ulogd wrote, in ulogd's order, with the same value (the time within a second,
``dvc`` aside).
"""

import json
import select
import socket
import struct
import threading
import time

import pytest

from nfacct_exporter.events.ifnames import IfNames
from nfacct_exporter.events.json_format import EventFormat
from nfacct_exporter.netlink import nflog
from nfacct_exporter.netlink.socket import NetfilterSocket
from tests.support import ulogd
from tests.support.firewall import settle, tcp_exchange
from tests.support.netns import Netns

pytestmark = pytest.mark.skipif(not ulogd.AVAILABLE, reason="ulogd2 and ulogd2-json needed")

ULOGD_GROUP, OUR_GROUP = 21, 22


class Harness:
    """Our group: raw datagrams with their receive time, collected on a thread."""

    def __init__(self, ns: Netns, group: int = OUR_GROUP,
                 copy_range: int = nflog.HEADERS_COPY_RANGE) -> None:
        self.sock = NetfilterSocket(ns.name, rcvbuf=1 << 22)
        nflog.bind(self.sock, group, 1024, 1, copy_range=copy_range)
        self.group = group
        self.datagrams: list[tuple[bytes, float]] = []
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop:
            if select.select([self.sock.fileno()], [], [], 0.1)[0]:
                self.datagrams.append((bytes(self.sock.recv()), time.time()))

    def lines(self, fmt: EventFormat) -> list[bytes]:
        return [line for data, now in self.datagrams for line in fmt.lines(data, now)]

    def close(self) -> None:
        self._stop = True
        self._t.join()
        self.sock.close()


def log_both(ns: Netns, tool: str, match: list[str], prefix: str) -> None:
    for group in (ULOGD_GROUP, OUR_GROUP):
        ns.run(tool, "-A", "INPUT", *match, "-j", "NFLOG", "--nflog-group", str(group),
               "--nflog-prefix", prefix)


def icmp_echo(ns: Netns, v6: bool, count: int = 2) -> None:
    def send() -> None:
        fam, proto, host = ((socket.AF_INET6, socket.IPPROTO_ICMPV6, "::1") if v6
                            else (socket.AF_INET, socket.IPPROTO_ICMP, "127.0.0.1"))
        with socket.socket(fam, socket.SOCK_RAW, proto) as s:
            for seq in range(count):
                body = struct.pack(">BBHHH", 128 if v6 else 8, 0, 0, 0x4242, seq) + b"nfxt" * 4
                if not v6:
                    c = sum(struct.unpack(">12H", body))
                    c = (c & 0xFFFF) + (c >> 16)
                    body = body[:2] + struct.pack(">H", ~c & 0xFFFF) + body[4:]
                s.sendto(body, (host, 0))
    ns.call(send)


def udp(ns: Netns, host: str, port: int, size: int, count: int) -> None:
    ns.udp(host, port, b"u" * size, count)


def tcp6(ns: Netns, port: int) -> None:
    def run() -> None:
        srv = socket.socket(socket.AF_INET6)
        srv.bind(("::1", port))
        srv.listen()
        c = socket.create_connection(("::1", port))
        a, _ = srv.accept()
        c.sendall(b"hello" * 300)
        a.recv(4096)
        c.close()
        a.close()
        srv.close()
    ns.call(run)


def test_same_keys_and_values_as_ulogd2_for_tcp_udp_icmp_ipv6(ns: Netns, tmp_path) -> None:
    proc, files = ulogd.start(ns, tmp_path, {ULOGD_GROUP: 1})
    ours = Harness(ns)
    try:
        log_both(ns, "iptables", ["-p", "tcp", "--dport", "8080"], "http-accept")
        log_both(ns, "iptables", ["-p", "udp", "--dport", "5353"], "udp \"quoted\" \\ é")
        log_both(ns, "iptables", ["-p", "icmp"], "icmp")
        log_both(ns, "ip6tables", ["-p", "tcp", "--dport", "8443"], "v6-tcp")
        log_both(ns, "ip6tables", ["-p", "udp", "--dport", "5353"], "v6-udp")
        log_both(ns, "ip6tables", ["-p", "icmpv6"], "v6-icmp")
        tcp_exchange(ns, 8080, connections=2, rounds=2)
        udp(ns, "127.0.0.1", 5353, 20, 3)
        udp(ns, "127.0.0.1", 5353, 1400, 2)  # more than we copy: raw.pktlen stays the full one
        icmp_echo(ns, v6=False)
        tcp6(ns, 8443)
        udp(ns, "::1", 5353, 900, 2)
        icmp_echo(ns, v6=True)
        out = files[ULOGD_GROUP]
        fmt = EventFormat(OUR_GROUP, "ulogd", "test", lambda prefix: "allowed", IfNames(ns.name))
        settle(lambda: (out.read_text().count("\n") if out.exists() else 0,
                        len(ours.lines(fmt))), quiet=1.5)
    finally:
        ours.close()
    theirs = [json.loads(line) for line in out.read_text().splitlines()]
    mine = [json.loads(line) for line in ours.lines(fmt)]
    reference = EventFormat(OUR_GROUP, "ulogd", "test", lambda prefix: "allowed",
                            IfNames(ns.name), fast=False)
    assert ours.lines(fmt) == ours.lines(reference)  # the compiled path: the same bytes
    assert fmt._fast is not None and len(fmt._fast._layouts) >= 5
    assert len(theirs) >= 30
    ulogd.compare(mine, theirs)
    seen = {(d.get("oob.family"), d.get("ip.protocol")) for d in theirs}
    assert {(2, 6), (2, 17), (2, 1), (10, 6), (10, 17), (10, 58)} <= seen
    assert any(d["raw.pktlen"] > 1000 for d in mine)
    assert proc.poll() is None
