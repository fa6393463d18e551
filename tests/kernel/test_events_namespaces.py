"""Events of one group bound in two namespaces: one file, each line saying its namespace, and
the counters labelled per namespace."""

import json

from tests.support.firewall import iptables_log, settle
from tests.support.netns import Netns


def test_one_group_in_two_namespaces(ns: Netns, exporter, tmp_path) -> None:  # noqa: ANN001
    other = Netns()
    try:
        for n in (ns, other):
            iptables_log(n, "iptables", "udp", 30301, 6, f"from {n.name}")
        out = tmp_path / "events.json"
        exp = exporter(f"pollinterval: 0.2\nnamespaces: [{other.name}]\nnflog:\n"
                       f"  - group: 6\n    verdict: drop\n    events:\n      file: {out}\n")
        exp.wait_for(lambda s: sum(v for (m, lbl), v in s.items()
                                   if m == "nflog_lost_packets_total") == 0
                     and len([1 for m, _ in s if m == "nflog_events_written_total"]) == 2)
        ns.udp("127.0.0.1", 30301, b"a", count=2)
        other.udp("127.0.0.1", 30301, b"b", count=3)
        lines = settle(lambda: out.read_text().splitlines() if out.exists() else [], quiet=1.0)
        got = [json.loads(line) for line in lines]
        by_ns = {n: [d for d in got if d["netns"] == n] for n in ("self", other.name)}
        assert len(by_ns["self"]) == 2 and len(by_ns[other.name]) == 3
        assert {d["oob.prefix"] for d in by_ns[other.name]} == {f"from {other.name}"}
        assert {d["oob.in"] for d in got} == {"lo"}
        assert {d["action"] for d in got} == {"blocked"}
        written = {dict(lbl)["netns"]: v for (m, lbl), v in exp.samples().items()
                   if m == "nflog_events_written_total"}
        assert written == {"self": 2, other.name: 3}
    finally:
        other.close()
