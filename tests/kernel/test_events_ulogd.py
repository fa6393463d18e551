"""Our NFLOG events against a real ulogd2 on the same packets.

Every test packet matches two rules: one logs it to a group bound by ulogd2 with the JSON stack
NFLOG→BASE→IFINDEX→IP2STR→JSON (boolean_label=1), the other to a group bound here, with only
128 bytes copied, and rendered by ``nfacct_exporter.events``. For each packet our object must
hold every key ulogd wrote, in ulogd's order, with the same value (the time within a second,
``dvc`` aside).
"""

import json
import select
import shutil
import socket
import struct
import subprocess
import threading
import time
from datetime import datetime

import pytest

from nfacct_exporter.events.ifnames import IfNames
from nfacct_exporter.events.json_format import EventFormat
from nfacct_exporter.netlink import nflog
from nfacct_exporter.netlink.socket import NetfilterSocket
from tests.support.firewall import bound_groups, settle, tcp_exchange
from tests.support.netns import Netns

pytestmark = pytest.mark.skipif(
    not shutil.which("ulogd")
    or not __import__("os").path.exists("/usr/lib/x86_64-linux-gnu/ulogd/ulogd_output_JSON.so"),
    reason="ulogd2 and ulogd2-json needed")

PLUGINS = "/usr/lib/x86_64-linux-gnu/ulogd"
ULOGD_GROUP, OUR_GROUP = 21, 22


def ulogd_conf(tmp, group: int, label: int) -> str:
    return f"""[global]
logfile="{tmp}/ulogd.log"
plugin="{PLUGINS}/ulogd_inppkt_NFLOG.so"
plugin="{PLUGINS}/ulogd_raw2packet_BASE.so"
plugin="{PLUGINS}/ulogd_filter_IFINDEX.so"
plugin="{PLUGINS}/ulogd_filter_IP2STR.so"
plugin="{PLUGINS}/ulogd_output_JSON.so"
stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,json1:JSON
[log1]
group={group}
numeric_label={label}
[json1]
sync=1
file="{tmp}/ulogd.json"
boolean_label=1
"""


def start_ulogd(ns: Netns, tmp, group: int = ULOGD_GROUP, label: int = 1) -> subprocess.Popen:
    conf = tmp / f"ulogd-{group}.conf"
    conf.write_text(ulogd_conf(tmp, group, label))
    proc = ns.popen(["ulogd", "-c", str(conf)], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while group not in bound_groups(ns):
        assert proc.poll() is None and time.monotonic() < deadline, \
            (tmp / "ulogd.log").read_text() if (tmp / "ulogd.log").exists() else "no log"
        time.sleep(0.05)
    return proc


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


def compare(ours: list[dict], theirs: list[dict]) -> None:
    assert len(ours) == len(theirs), (len(ours), len(theirs))
    for o, t in zip(ours, theirs, strict=True):
        keys = [k for k in t if k not in ("dvc",)]
        assert [k for k in o if k in t and k != "dvc"] == keys, (o, t)  # same order
        for k in keys:
            if k == "timestamp":
                dt = abs(datetime.fromisoformat(o[k]) - datetime.fromisoformat(t[k]))
                assert dt.total_seconds() < 1.0, (k, o[k], t[k])
            elif k in ("oob.time.sec", "oob.time.usec"):
                continue  # checked through the timestamp (same instant when the kernel set it)
            else:
                assert o[k] == t[k], (k, o[k], t[k], o, t)


def test_same_keys_and_values_as_ulogd2_for_tcp_udp_icmp_ipv6(ns: Netns, tmp_path) -> None:
    ulogd = start_ulogd(ns, tmp_path)
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
        out = tmp_path / "ulogd.json"
        fmt = EventFormat(OUR_GROUP, "ulogd", "test", lambda prefix: "allowed", IfNames(ns.name))
        settle(lambda: (out.read_text().count("\n") if out.exists() else 0,
                        len(ours.lines(fmt))), quiet=1.5)
    finally:
        ours.close()
    theirs = [json.loads(line) for line in out.read_text().splitlines()]
    mine = [json.loads(line) for line in ours.lines(fmt)]
    assert len(theirs) >= 30
    compare(mine, theirs)
    seen = {(d.get("oob.family"), d.get("ip.protocol")) for d in theirs}
    assert {(2, 6), (2, 17), (2, 1), (10, 6), (10, 17), (10, 58)} <= seen
    assert any(d["raw.pktlen"] > 1000 for d in mine)
    assert ulogd.poll() is None
