"""Graphite ``mode: delta`` with several namespaces: a namespace that could not be read for a poll
keeps its baseline (its next increment is not its whole cumulative counter), and a namespace that
was replaced (another inode behind the same path) counts its new objects from zero."""

from nfacct_exporter import config
from nfacct_exporter.records import NfacctObject
from nfacct_exporter.sinks.graphite import NfacctLines
from nfacct_exporter.snapshot import Reading, Snapshot

CFG = config.from_text("graphite: {host: h, prefix: p, mode: delta}\n")


def reading(netns: str, pkts: int | None, instance: tuple | None = None) -> Reading:
    if pkts is None:
        return Reading("nfacct", False, 0.0, error="gone", netns=netns)
    extra = {} if instance is None else {"netns_instance": instance}
    return Reading("nfacct", True, 0.0, (NfacctObject("ipv4.http", pkts, 10 * pkts),),
                   extra=extra, netns=netns)


def poll(t: int, self_pkts: int, blue_pkts: int | None, blue: tuple = (7, 0)) -> Snapshot:
    """``blue``: the namespace instance (its inode, and how often its path was seen missing)."""
    return Snapshot(t, float(t), 0.0, {"nfacct@self": reading("self", self_pkts),
                                       "nfacct@blue": reading("blue", blue_pkts, blue)})


def values(lines: NfacctLines, snap: Snapshot) -> dict[str, int]:
    return {line.split()[0]: int(line.split()[1])
            for line in lines.chunk(snap).decode().splitlines()}


def test_a_namespace_that_failed_one_poll_keeps_its_baseline() -> None:
    lines = NfacctLines(CFG.graphite, ())
    assert values(lines, poll(1, 100, 1_000_000)) == {}  # baseline
    assert values(lines, poll(2, 105, 1_000_010))["p.blue.ipv4.http.pkts"] == 10
    got = values(lines, poll(3, 110, None))  # blue could not be read this once
    assert got == {"p.self.ipv4.http.pkts": 5, "p.self.ipv4.http.bytes": 50}
    got = values(lines, poll(4, 111, 1_000_025))
    # 15 packets since poll 2, not the million the object counted since it was made
    assert got["p.blue.ipv4.http.pkts"] == 15 and got["p.blue.ipv4.http.bytes"] == 150
    assert got["p.self.ipv4.http.pkts"] == 1


def test_a_replaced_namespace_counts_its_new_objects_from_zero() -> None:
    lines = NfacctLines(CFG.graphite, ())
    values(lines, poll(1, 100, 50))
    values(lines, poll(2, 100, None))  # deleted (its path seen missing) ...
    got = values(lines, poll(3, 100, 70, blue=(7, 1)))  # ... and created again, same inode
    assert got["p.blue.ipv4.http.pkts"] == 70  # a new object: all of it is new traffic
    got = values(lines, poll(4, 100, 75, blue=(9, 1)))  # replaced between two polls
    assert got["p.blue.ipv4.http.pkts"] == 75
