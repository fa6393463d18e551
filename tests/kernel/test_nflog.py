"""NFLOG end to end on the real kernel: iptables, ip6tables and nft log rules on several groups in
a namespace the test creates, real UDP/TCP on loopback, the real daemon; what /metrics serves is
compared with what was sent and with the kernel's rule counters."""

import shutil
import subprocess
import sys
import time

import pytest

from nfacct_exporter.netlink import nflog
from nfacct_exporter.netlink.socket import NetfilterSocket
from tests.support.firewall import (
    bound_groups,
    iptables_counters,
    iptables_log,
    nflog_series,
    nft_log,
    per_group,
    rule_counters,
    settle,
    tcp_exchange,
)
from tests.support.waiting import until

SEED = """\
pollinterval: 0.2
nflog:
  - group: 1
    verdict: accept
  - group: 2
    verdict: drop
    prefix_verdicts:
      - {match: 'IPv6', verdict: reject}
  - group: 3
    verdict: log
"""


def seed_rules(ns) -> None:  # noqa: ANN001
    """The seed's rules (ports moved off the defaults), plus nft ``log group`` rules."""
    iptables_log(ns, "iptables", "tcp", 31022, 1, "SSH Attempt", ("--syn",))
    iptables_log(ns, "ip6tables", "tcp", 31022, 1, "SSH Attempt", ("--syn",))
    iptables_log(ns, "iptables", "udp", 31001, 2, "Input IPv4 Default DROP")
    iptables_log(ns, "ip6tables", "udp", 31001, 2, "Input IPv6 Default DROP")
    nft_log(ns, "udp", 31003, 3, "SSH for ever")
    nft_log(ns, "tcp", 31033, 3, None)  # no prefix at all


def test_counts_equal_what_was_sent_and_the_rule_counters(ns, exporter) -> None:  # noqa: ANN001
    seed_rules(ns)
    exp = exporter(SEED)
    ns.udp("127.0.0.1", 31001, b"a" * 100, count=7)
    ns.udp("::1", 31001, b"b" * 100, count=5)
    ns.udp("127.0.0.1", 31003, b"c" * 50, count=4)
    ns.udp("::1", 31003, b"d" * 20, count=3)
    tcp_exchange(ns, 31022, connections=3, rounds=2)  # 3 SYNs logged
    tcp_exchange(ns, 31033, connections=2, rounds=5)  # every client→server packet logged

    kernel = rule_counters(ns)
    want = {
        (1, "SSH Attempt", "accept"): (3, kernel[(1, "SSH Attempt")][1]),
        (2, "Input IPv4 Default DROP", "drop"): (7, 7 * 128),
        (2, "Input IPv6 Default DROP", "reject"): (5, 5 * 148),
        (3, "SSH for ever", "log"): (4 + 3, 4 * 78 + 3 * 68),
        (3, "", "log"): kernel[(3, "")],
    }
    assert kernel[(1, "SSH Attempt")][0] == 3 and kernel[(3, "")][0] >= 2 * 5
    assert {(g, p): v for (g, p, _), v in want.items()} == kernel
    got = exp.wait_for(lambda s: nflog_series(s) == want and nflog_series(s))
    assert got == want
    # a second reader of the same counters: iptables -L -v -x
    v4 = iptables_counters(ns, "iptables")
    assert v4[31001] == (7, 7 * 128) and v4[31022][0] == 3
    samples = exp.samples()
    assert per_group(samples, "nflog_lost_packets_total") == {1: 0, 2: 0, 3: 0}
    assert per_group(samples, "nflog_prefixes") == {1: 1, 2: 2, 3: 2}
    assert samples[("nfacct_exporter_poll_errors_total", frozenset({"source": "nflog"}.items()))] \
        == 0


HOSTILE = ["web server", "web_server", 'q"uote', "back\\slash", "ünï.cødé {a}=b,c #x",
           "x" * 63, "%7E ~empty"]
NFT_HOSTILE = ["new\nline", "tab\tx\\n", "y" * 127]


def test_hostile_prefixes_come_out_exact(ns, exporter) -> None:  # noqa: ANN001
    for i, prefix in enumerate(HOSTILE):
        iptables_log(ns, "iptables", "udp", 31100 + i, 5, prefix)
    for i, prefix in enumerate(NFT_HOSTILE):
        nft_log(ns, "udp", 31200 + i, 5, prefix)
    nft_log(ns, "udp", 31299, 5, "")
    exp = exporter("pollinterval: 0.2\nnflog:\n  - group: 5\n    verdict: drop\n")
    want = {}
    for i, prefix in enumerate(HOSTILE):
        ns.udp("127.0.0.1", 31100 + i, b"h" * i, count=i + 1)
        want[(5, prefix, "drop")] = (i + 1, (i + 1) * (28 + i))
    for i, prefix in enumerate(NFT_HOSTILE):
        ns.udp("::1", 31200 + i, b"n" * i, count=2)
        want[(5, prefix, "drop")] = (2, 2 * (48 + i))
    ns.udp("127.0.0.1", 31299, b"", count=1)
    want[(5, "", "drop")] = (1, 28)
    got = exp.wait_for(lambda s: nflog_series(s) == want and nflog_series(s))
    assert got == want
    if shutil.which("promtool"):
        lint = subprocess.run(["promtool", "check", "metrics"], input=exp.text(), text=True,
                              capture_output=True)
        assert lint.returncode == 0, lint.stderr


def test_cardinality_cap_folds_the_rest_into_overflow(ns, exporter) -> None:  # noqa: ANN001
    for i in range(6):
        nft_log(ns, "udp", 31300 + i, 6, f"p{i}")
    exp = exporter("pollinterval: 0.2\nnflog:\n  - group: 6\n    verdict: drop\n"
                   "    max_prefixes: 3\n    prefix_verdicts: [{match: '^p5$', verdict: log}]\n")
    for i in range(6):  # one sender, in order: p0..p2 are tracked, p3..p5 overflow
        ns.udp("127.0.0.1", 31300 + i, b"z" * 10, count=10 + i)
    samples = exp.wait_for(
        lambda s: per_group(s, "nflog_prefix_overflow_packets_total").get(6) == 13 + 14 + 15
        and s)
    series = nflog_series(samples)
    tracked = {k: v for k, v in series.items() if len(k[1]) < 100}
    overflow = {k[2]: v for k, v in series.items() if len(k[1]) >= 100}
    assert tracked == {(6, f"p{i}", "drop"): (10 + i, (10 + i) * 38) for i in range(3)}
    assert overflow == {"drop": (13 + 14, 27 * 38), "log": (15, 15 * 38)}
    assert per_group(samples, "nflog_prefixes") == {6: 3}
    assert {k[1] for k in series if len(k[1]) >= 100} == {
        next(iter({k[1] for k in series if len(k[1]) >= 100}))}  # one overflow value


def test_burst_overflows_the_socket_received_plus_lost_equals_sent(ns, exporter) -> None:  # noqa: ANN001,E501
    nft_log(ns, "udp", 31500, 7, "burst")
    exp = exporter("pollinterval: 0.2\nnflog:\n  - group: 7\n    verdict: drop\n"
                   "    rcvbuf: 4096\n    qthreshold: 1\n")
    ns.udp("127.0.0.1", 31500, b"", count=200_000)

    def total(s: dict) -> tuple[int, int]:
        got = nflog_series(s).get((7, "burst", "drop"), (0, 0))[0]
        return got, per_group(s, "nflog_lost_packets_total").get(7, 0)

    def accounted() -> tuple[int, int] | None:
        """A gap shows when the next packet arrives, so the tail of the burst (and a marker
        dropped with it) is accounted once a later marker gets through: send one per try."""
        ns.udp("127.0.0.1", 31500, b"", count=1)
        time.sleep(0.3)
        got = settle(lambda: total(exp.samples()), timeout=10, quiet=0.3)
        return got if sum(got) == rule_counters(ns)[(7, "burst")][0] else None

    received, lost = until(accounted, 60, "received + lost = the rule's count", 0)
    sent = received + lost  # = the kernel's own count of packets the rule logged
    assert sent > 200_000, (received, lost)
    assert lost > 0, "the 4 KiB buffer should have overflowed"
    assert exp.proc.poll() is None
    # and it goes on counting exactly afterwards (paced: a 4 KiB buffer holds ~2 datagrams)
    for _ in range(25):
        ns.udp("127.0.0.1", 31500, b"x" * 10, count=1)
        time.sleep(0.01)
    exp.wait_for(lambda s: total(s) == (received + 25, lost))
    samples = exp.samples()
    assert nflog_series(samples)[(7, "burst", "drop")][1] == received * 28 + 25 * 38


def test_group_held_by_another_socket_one_clear_line(ns) -> None:  # noqa: ANN001
    holder = ns.call(NetfilterSocket)
    try:
        nflog.bind(holder, 9, 10, 10)
        r = ns.run(sys.executable, "-m", "nfacct_exporter", "--web.listen-address",
                   "127.0.0.1:23457", "--config", "/dev/stdin", check=False, timeout=30,
                   input="nflog:\n  - group: 8\n  - group: 9\n")
    finally:
        holder.close()
    assert r.returncode == 1, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "NFLOG group 9" in lines[0] and "already bound" in lines[0], lines[0]


def test_netns_key_binds_in_that_namespace_and_says_so(ns) -> None:  # noqa: ANN001
    """From the root namespace with ``netns:``: the refusal names the group and the namespace."""
    holder = ns.call(NetfilterSocket)
    try:
        nflog.bind(holder, 13, 10, 10)
        r = subprocess.run([sys.executable, "-m", "nfacct_exporter", "--config", "/dev/stdin",
                            "--web.listen-address", "127.0.0.1:23459"], capture_output=True,
                           text=True, timeout=30,
                           input=f"netns: {ns.name}\nnflog:\n  - group: 13\n")
    finally:
        holder.close()
    assert r.returncode == 1, r
    assert r.stderr.strip() == (
        f"nfacct-exporter: cannot bind NFLOG group 13 in network namespace {ns.name!r}: it is "
        "already bound by another netlink socket (ulogd, another exporter?) (Operation not "
        "permitted); stop that listener or use another group"), r.stderr


@pytest.mark.skipif(not shutil.which("ulogd"), reason="ulogd2 missing")
def test_group_held_by_ulogd_one_clear_line(ns, tmp_path) -> None:  # noqa: ANN001
    conf = tmp_path / "ulogd.conf"
    conf.write_text(f"""[global]
logfile="{tmp_path}/ulogd.log"
plugin="/usr/lib/x86_64-linux-gnu/ulogd/ulogd_inppkt_NFLOG.so"
plugin="/usr/lib/x86_64-linux-gnu/ulogd/ulogd_output_GPRINT.so"
stack=log1:NFLOG,gp1:GPRINT
[log1]
group=10
[gp1]
file="{tmp_path}/gprint.log"
""")
    ulogd = ns.popen(["ulogd", "-c", str(conf)], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    settle(lambda: bound_groups(ns), timeout=10)
    assert ulogd.poll() is None and bound_groups(ns) == {10}, (tmp_path / "ulogd.log").read_text()
    (tmp_path / "c.yaml").write_text("nflog:\n  - group: 10\n")
    r = ns.run(sys.executable, "-m", "nfacct_exporter", "--web.listen-address",
               "127.0.0.1:23458", "--config", str(tmp_path / "c.yaml"), check=False, timeout=30)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "NFLOG group 10" in r.stderr and "ulogd" in r.stderr
    assert ulogd.poll() is None and bound_groups(ns) == {10}  # ulogd keeps its group


def test_stop_frees_the_groups_and_no_section_binds_nothing(ns, exporter) -> None:  # noqa: ANN001
    exp = exporter("pollinterval: 0.2\nnflog:\n  - group: 11\n  - group: 12\n")
    assert bound_groups(ns) == {11, 12}
    exp.proc.terminate()
    assert exp.proc.wait(10) == 0
    assert bound_groups(ns) == set()  # the kernel freed them with the sockets
    other = exporter("pollinterval: 0.2\n")
    assert not any(m.startswith("nflog_") for m, _ in other.samples())
    assert bound_groups(ns) == set()
