"""NFACCT end to end on the real kernel: objects, iptables/ip6tables rules and loopback traffic in
a namespace the test creates; what /metrics serves is compared with what the kernel counted."""

import shutil
import subprocess
import sys

import pytest

from nfacct_exporter.netlink import nfacct
from nfacct_exporter.netlink.socket import NetfilterSocket
from tests.support.exposition import parse_exposition
from tests.support.firewall import kernel_counters, tcp_exchange

CONFIG = """\
pollinterval: 0.2
labels:
  - match: '^(?P<family>ipv[46])\\.(?P<app>[^.]+)$'
"""
UDP4, UDP6, TCP = 30001, 30002, 30003


def counters(samples: dict) -> dict[str, tuple[int, int]]:
    """{name: (packets, bytes)} from parsed /metrics."""
    out: dict[str, list[int]] = {}
    for (metric, labels), value in samples.items():
        if metric in ("nfacct_packets_total", "nfacct_bytes_total"):
            name = dict(labels)["name"]
            out.setdefault(name, [0, 0])[metric == "nfacct_bytes_total"] = int(value)
    return {k: (v[0], v[1]) for k, v in out.items()}


def setup_rules(ns) -> None:  # noqa: ANN001
    for name in ("ipv4.udp", "ipv6.udp", "ipv4.tcp"):
        ns.run("nfacct", "add", name)
    ns.sh(f"""
        iptables  -A INPUT -p udp --dport {UDP4} -m nfacct --nfacct-name ipv4.udp
        ip6tables -A INPUT -p udp --dport {UDP6} -m nfacct --nfacct-name ipv6.udp
        iptables  -A INPUT -p tcp --dport {TCP} -m nfacct --nfacct-name ipv4.tcp
    """)


def test_exported_counters_equal_the_kernel(ns, exporter) -> None:  # noqa: ANN001
    setup_rules(ns)
    exp = exporter(CONFIG)
    ns.udp("127.0.0.1", UDP4, b"a" * 100, count=7)
    ns.udp("::1", UDP6, b"b" * 100, count=5)
    tcp_exchange(ns, TCP, connections=1, rounds=4)
    kernel = kernel_counters(ns)
    # what the rules must have counted: IPv4 20+8+100 bytes, IPv6 40+8+100 bytes per datagram
    assert kernel["ipv4.udp"] == (7, 7 * 128)
    assert kernel["ipv6.udp"] == (5, 5 * 148)
    assert kernel["ipv4.tcp"][0] > 0
    got = exp.wait_for(lambda s: counters(s) == kernel and counters(s))
    assert got == kernel
    samples = exp.samples()
    key = ("nfacct_bytes_total", frozenset({"name": "ipv4.udp", "family": "ipv4",
                                            "app": "udp"}.items()))
    assert samples[key] == 7 * 128
    assert samples[("nfacct_up", frozenset())] == 1
    assert samples[("nfacct_exporter_objects", frozenset())] == 3
    # reading never resets: the kernel still holds every count after many polls
    assert kernel_counters(ns) == kernel


def test_objects_appear_and_disappear_at_next_poll(ns, exporter) -> None:  # noqa: ANN001
    exp = exporter(CONFIG)
    ns.run("nfacct", "add", "late.one")
    exp.wait_for(lambda s: "late.one" in counters(s))
    ns.run("nfacct", "del", "late.one")
    exp.wait_for(lambda s: "late.one" not in counters(s))


def test_reset_by_another_reader_is_followed(ns, exporter) -> None:  # noqa: ANN001
    setup_rules(ns)
    exp = exporter(CONFIG)
    ns.udp("127.0.0.1", UDP4, b"a" * 100, count=9)
    exp.wait_for(lambda s: counters(s).get("ipv4.udp") == (9, 9 * 128))
    ns.run("nfacct", "list", "reset")  # GET_CTRZERO by someone else
    ns.udp("127.0.0.1", UDP4, b"a" * 100, count=2)
    exp.wait_for(lambda s: counters(s).get("ipv4.udp") == (2, 2 * 128))
    assert exp.proc.poll() is None
    assert exp.samples()[("nfacct_up", frozenset())] == 1


HOSTILE = ["web server", "web_server", 'q"uote', "back\\slash", "new\nline", "tab\tx",
           "ünï.cødé", "{a}=b,c", "#comment", "x" * 31]


def test_hostile_names_come_out_exact(ns, exporter) -> None:  # noqa: ANN001
    sock = ns.call(NetfilterSocket)
    try:
        assert ns.call(lambda: nfacct.create(sock, HOSTILE)) == [0] * len(HOSTILE)
    finally:
        sock.close()
    exp = exporter(CONFIG)
    text = exp.text()
    names = set(counters(parse_exposition(text)))
    assert names == set(HOSTILE)
    if shutil.which("promtool"):
        lint = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                              capture_output=True)
        assert lint.returncode == 0, lint.stderr


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool (Debian prometheus) missing")
def test_promtool_lints_the_exposition(ns, exporter) -> None:  # noqa: ANN001
    setup_rules(ns)
    exp = exporter(CONFIG)
    lint = subprocess.run(["promtool", "check", "metrics"], input=exp.text(), text=True,
                          capture_output=True)
    assert lint.returncode == 0, lint.stderr


def test_without_cap_net_admin_one_clear_line(ns) -> None:  # noqa: ANN001
    """Root without CAP_NET_ADMIN (dropped from every set): the kernel refuses the dump."""
    r = ns.run("setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin",
               sys.executable, "-m", "nfacct_exporter", "--web.listen-address",
               "127.0.0.1:23456", check=False, timeout=30)
    assert r.returncode == 1, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "CAP_NET_ADMIN" in lines[0], r.stderr
