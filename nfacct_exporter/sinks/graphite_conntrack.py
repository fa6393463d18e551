"""Conntrack statistics → Graphite lines, cumulative values like the kernel's::

    <conntrack_prefix>[.<netns>].entries 3 <poll epoch>
    <conntrack_prefix>[.<netns>].entries_limit 262144 <poll epoch>
    <conntrack_prefix>[.<netns>].insert_failed 0 <poll epoch>

Statistics are summed over CPUs; with ``per_cpu`` they are sent per CPU instead, as
``<conntrack_prefix>[.<netns>].cpu<N>.<statistic>``.
"""

from nfacct_exporter import naming
from nfacct_exporter.netlink.conntrack import STATISTICS, ConntrackStats
from nfacct_exporter.snapshot import Snapshot


class ConntrackLines:
    def __init__(self, prefix: str, per_cpu: bool = False) -> None:
        self.prefix = prefix
        self.per_cpu = per_cpu

    def lines(self, snapshot: Snapshot) -> list[str]:
        ts = f" {int(snapshot.time)}\n"
        out = []
        for r in snapshot.all("conntrack"):
            if not r.ok:
                continue
            base = (self.prefix if r.netns is None
                    else f"{self.prefix}.{naming.graphite_component(r.netns)}")
            for rec in r.records:
                assert isinstance(rec, ConntrackStats)
                out.append(f"{base}.entries {rec.entries}{ts}")
                out.append(f"{base}.entries_limit {rec.limit}{ts}")
                if self.per_cpu:
                    for cpu, values in sorted(rec.cpus.items()):
                        out += [f"{base}.cpu{cpu}.{n} {values.get(n, 0)}{ts}" for n in STATISTICS]
                else:
                    out += [f"{base}.{n} {v}{ts}" for n, v in rec.totals().items()]
        return out

    def chunk(self, snapshot: Snapshot) -> bytes:
        """This poll's lines as bytes, appended to the poll's carbon chunk."""
        return "".join(self.lines(snapshot)).encode("utf-8")
