"""On the real kernel: several namespaces (overlapping names kept apart, a namespace
deleted and recreated while running), nfacct quotas driven over quota by real traffic, and
nftables named counters — all compared with what the kernel reports."""

import json
import subprocess

from tests.support.firewall import iptables_log, kernel_counters
from tests.support.netns import Netns


def values(samples: dict, metric: str, **want: str) -> dict[frozenset, float]:
    """Samples of ``metric`` whose labels include ``want``."""
    return {labels: v for (m, labels), v in samples.items()
            if m == metric and set(want.items()) <= dict(labels).items()}


def one(samples: dict, metric: str, **want: str) -> float | None:
    got = values(samples, metric, **want)
    assert len(got) <= 1, got
    return next(iter(got.values()), None)


def udp_counter(ns: Netns, name: str, port: int) -> None:
    ns.run("nfacct", "add", name)
    ns.run("iptables", "-A", "INPUT", "-p", "udp", "--dport", str(port), "-m", "nfacct",
           "--nfacct-name", name)


def test_two_namespaces_with_the_same_names_stay_apart(ns, exporter) -> None:  # noqa: ANN001
    other = Netns()
    try:
        udp_counter(ns, "ipv4.udp", 30201)
        udp_counter(other, "ipv4.udp", 30201)
        ns.udp("127.0.0.1", 30201, b"a" * 10, count=3)
        other.udp("127.0.0.1", 30201, b"b" * 10, count=8)
        iptables_log(other, "iptables", "udp", 30202, 5, "other ns")
        exp = exporter(f"pollinterval: 0.2\nnamespaces: [{other.name}]\n"
                       "nflog:\n  - group: 5\n    verdict: drop\n")
        # NFLOG is live: log only once the exporter has bound group 5 in both namespaces
        exp.wait_for(lambda s: one(s, "nflog_lost_packets_total", netns=other.name) == 0)
        other.udp("127.0.0.1", 30202, b"c" * 10, count=4)
        mine, theirs = kernel_counters(ns)["ipv4.udp"], kernel_counters(other)["ipv4.udp"]
        assert mine == (3, 3 * 38) and theirs == (8, 8 * 38)

        def both(s: dict) -> bool:
            return (one(s, "nfacct_packets_total", netns="self", name="ipv4.udp") == mine[0]
                    and one(s, "nfacct_bytes_total", netns=other.name, name="ipv4.udp")
                    == theirs[1]
                    and one(s, "nflog_packets_total", netns=other.name, prefix="other ns") == 4)
        exp.wait_for(both)
        s = exp.samples()
        assert one(s, "nfacct_up", netns="self") == 1
        assert one(s, "nfacct_up", netns=other.name) == 1
        assert one(s, "nfacct_bytes_total", netns="self", name="ipv4.udp") == mine[1]
        # NFLOG group 5 is bound in both namespaces; only the other one logged anything
        assert one(s, "nflog_packets_total", netns="self", prefix="other ns") is None
    finally:
        other.close()


def test_namespace_deleted_and_recreated_while_running(ns, exporter) -> None:  # noqa: ANN001
    other = Netns()
    try:
        udp_counter(other, "old.obj", 30211)
        exp = exporter(f"pollinterval: 0.2\nnamespaces: [{other.name}]\n")
        exp.wait_for(lambda s: one(s, "nfacct_packets_total", netns=other.name,
                                   name="old.obj") == 0)
        subprocess.run(["ip", "netns", "del", other.name], check=True)
        exp.wait_for(lambda s: one(s, "nfacct_up", netns=other.name) == 0)
        s = exp.samples()
        assert not values(s, "nfacct_packets_total", netns=other.name)  # no stale series
        assert one(s, "nfacct_up", netns="self") == 1
        assert exp.proc.poll() is None
        # a new namespace under the same name: picked up, old objects gone
        subprocess.run(["ip", "netns", "add", other.name], check=True)
        other.sh("ip link set lo up")
        udp_counter(other, "new.obj", 30212)
        other.udp("127.0.0.1", 30212, b"x", count=2)
        exp.wait_for(lambda s: one(s, "nfacct_packets_total", netns=other.name,
                                   name="new.obj") == 2)
        s = exp.samples()
        assert one(s, "nfacct_packets_total", netns=other.name, name="old.obj") is None
        assert one(s, "nfacct_up", netns=other.name) == 1
        assert "was replaced" in exp.log.read_text() or "again" in exp.log.read_text()
    finally:
        other.close()


def test_a_missing_namespace_is_not_fatal_and_is_picked_up_later(ns, exporter) -> None:  # noqa: ANN001,E501
    late = Netns()
    name = late.name
    late.close()  # not there at start-up
    exp = exporter(f"pollinterval: 0.2\nnamespaces: [{name}]\n")
    assert one(exp.samples(), "nfacct_up", netns=name) == 0
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "nfacct", "add", "late.obj"], check=True)
        exp.wait_for(lambda s: one(s, "nfacct_packets_total", netns=name, name="late.obj") == 0)
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_quota_objects_driven_over_quota(ns, exporter) -> None:  # noqa: ANN001
    ns.run("nfacct", "add", "q.pkts", "packet", "5")
    ns.run("nfacct", "add", "q.bytes", "byte", "100000")
    for name in ("q.pkts", "q.bytes"):
        ns.run("iptables", "-A", "INPUT", "-p", "udp", "--dport", "30221", "-m", "nfacct",
               "--nfacct-name", name)
    exp = exporter("pollinterval: 0.2\n")
    s = exp.samples()
    assert one(s, "nfacct_quota_packets", name="q.pkts") == 5
    assert one(s, "nfacct_quota_bytes", name="q.bytes") == 100000
    assert one(s, "nfacct_over_quota", name="q.pkts") == 0
    ns.udp("127.0.0.1", 30221, b"x" * 10, count=9)
    exp.wait_for(lambda s: one(s, "nfacct_over_quota", name="q.pkts") == 1
                 and one(s, "nfacct_over_quota_events_total", name="q.pkts") == 1)
    s = exp.samples()
    assert one(s, "nfacct_over_quota", name="q.bytes") == 0
    assert one(s, "nfacct_over_quota_events_total", name="q.bytes") == 0
    assert one(s, "nfacct_packets_total", name="q.pkts") == kernel_counters(ns)["q.pkts"][0] == 9
    # many polls later the kernel's over-quota bit is still set: reading never clears it
    assert "overquota = yes" in ns.run("nfacct", "get", "q.pkts").stdout


def test_nft_named_counters_equal_nft_list(ns, exporter) -> None:  # noqa: ANN001
    ns.sh("""
        nft add table inet filter
        nft add counter inet filter http
        nft add table ip6 raw6
        nft add counter ip6 raw6 dns
        nft add chain inet filter in '{ type filter hook input priority 0; }'
        nft add rule inet filter in udp dport 30231 counter name http
    """)
    ns.udp("127.0.0.1", 30231, b"y" * 20, count=6)
    exp = exporter("pollinterval: 0.2\nnft_counters: true\nlabels:\n"
                   "  - match: '^(?P<app>http)$'\n")
    listed = json.loads(ns.run("nft", "-j", "list", "counters").stdout)["nftables"]
    kernel = {(c["family"], c["table"], c["name"]): (c["packets"], c["bytes"])
              for c in (i["counter"] for i in listed if "counter" in i)}
    assert kernel[("inet", "filter", "http")] == (6, 6 * 48)

    def exported(s: dict) -> dict:
        out = {}
        for labels, v in values(s, "nftables_packets_total").items():
            d = dict(labels)
            b = one(s, "nftables_bytes_total", **d)
            out[(d["family"], d["table"], d["name"])] = (int(v), int(b))
        return out
    assert exp.wait_for(lambda s: exported(s) == kernel and exported(s))
    assert one(exp.samples(), "nftables_packets_total", name="http", app="http") == 6
    lint = subprocess.run(["promtool", "check", "metrics"], input=exp.text(), text=True,
                          capture_output=True)
    assert lint.returncode == 0, lint.stderr


def test_netns_key_nflog_follows_its_namespace_when_it_is_recreated(ns, exporter) -> None:  # noqa: ANN001,E501
    """``netns: X`` alone (one namespace, no netns label): when X is deleted and created again,
    NFLOG must be bound in the new X, as NFACCT is read there, not stay in the dead one."""
    other = Netns()
    try:
        iptables_log(other, "iptables", "udp", 30241, 6, "before")
        exp = exporter(f"pollinterval: 0.2\nnetns: {other.name}\n"
                       "nflog:\n  - group: 6\n    verdict: drop\n")
        other.udp("127.0.0.1", 30241, b"a", count=2)
        exp.wait_for(lambda s: one(s, "nflog_packets_total", prefix="before") == 2)
        subprocess.run(["ip", "netns", "del", other.name], check=True)
        exp.wait_for(lambda s: one(s, "nfacct_exporter_source_success", source="nflog") == 0)
        subprocess.run(["ip", "netns", "add", other.name], check=True)
        other.sh("ip link set lo up")
        iptables_log(other, "iptables", "udp", 30241, 6, "after")
        exp.wait_for(lambda s: one(s, "nflog_lost_packets_total", group="6") == 0
                     and one(s, "nfacct_exporter_source_success", source="nflog") == 1)
        other.udp("127.0.0.1", 30241, b"b", count=3)
        exp.wait_for(lambda s: one(s, "nflog_packets_total", prefix="after") == 3)
        assert exp.proc.poll() is None
    finally:
        other.close()


def test_readings_name_the_namespace_instance_they_read(ns) -> None:  # noqa: ANN001
    """Delta mode tells a replaced namespace (new objects: count from 0) from one that failed a
    poll (keep the baseline) by ``extra["netns_instance"]``. The kernel gives a namespace made
    after the old one was freed the old one's inode number again, so the inode alone cannot
    tell them apart: a path seen missing in between makes another instance."""
    import os

    from nfacct_exporter.sources.nfacct import NfacctSource
    from nfacct_exporter.sources.nft import NftSource
    path = f"/run/netns/{ns.name}"
    for source in (NfacctSource(ns.name, ns.name), NftSource(ns.name, ns.name)):
        try:
            r = source.read()
            assert r.ok, r.error
            first = r.extra["netns_instance"]
            assert first[0] == os.stat(path).st_ino
            assert source.read().extra["netns_instance"] == first  # the same namespace
            subprocess.run(["ip", "netns", "del", ns.name], check=True)
            assert not source.read().ok
            subprocess.run(["ip", "netns", "add", ns.name], check=True)
            r = source.read()
            assert r.ok, r.error
            assert r.extra["netns_instance"] != first
        finally:
            source.close()
