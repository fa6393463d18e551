"""Conntrack statistics → Prometheus text, named as node_exporter's conntrack collector names
them (without its ``node_`` prefix) so its users' queries carry over::

    # TYPE nf_conntrack_entries gauge
    nf_conntrack_entries 3
    # TYPE nf_conntrack_entries_limit gauge
    nf_conntrack_entries_limit 262144
    # TYPE nf_conntrack_stat_insert_failed_total counter
    nf_conntrack_stat_insert_failed_total 0
    # TYPE nf_conntrack_up gauge
    nf_conntrack_up 1

Statistics are summed over CPUs; with ``per_cpu`` each one has a ``cpu`` label instead. With
several namespaces every series starts with a ``netns`` label.
"""

from nfacct_exporter import naming
from nfacct_exporter.netlink.conntrack import STATISTICS, ConntrackStats
from nfacct_exporter.snapshot import Reading

HELP = {
    "found": "Searches of the conntrack table that found an entry.",
    "invalid": "Packets conntrack could not track (malformed, out of window, ...).",
    "insert": "Entries inserted into the conntrack table.",
    "insert_failed": "Entries whose insertion failed (a clash with an existing entry).",
    "drop": "Packets dropped because an entry could not be made (table full, no memory).",
    "early_drop": "Entries evicted to make room for new ones when the table was full.",
    "error": "Packets conntrack rejected as errors (e.g. bad ICMP errors).",
    "search_restart": "Table lookups restarted because the table was resized or changed.",
    "clash_resolve": "Insertion clashes that were resolved (the packet went on).",
    "chaintoolong": "Entries not inserted because their hash chain was too long.",
    "expect_new": "Expectations (helpers' related connections) that became connections.",
    "expect_create": "Expectations created.",
    "expect_delete": "Expectations deleted.",
}


def _family(metric: str, kind: str, help_text: str, rows: list[str]) -> str:
    return f"# HELP {metric} {help_text}\n# TYPE {metric} {kind}\n" + "".join(rows)


class ConntrackRenderer:
    def __init__(self, per_cpu: bool = False) -> None:
        self.per_cpu = per_cpu

    def render(self, readings: list[Reading]) -> str:
        """Figures of every good reading, and ``nf_conntrack_up`` of every reading given."""
        entries, limit, up = [], [], []
        stats: dict[str, list[str]] = {s: [] for s in STATISTICS}
        for r in readings:
            ns = f'netns="{naming.label_value(r.netns)}"' if r.netns is not None else ""
            braces = f"{{{ns}}}" if ns else ""
            up.append(f"nf_conntrack_up{braces} {1 if r.ok else 0}\n")
            if not r.ok:
                continue
            for rec in r.records:
                assert isinstance(rec, ConntrackStats)
                entries.append(f"nf_conntrack_entries{braces} {rec.entries}\n")
                limit.append(f"nf_conntrack_entries_limit{braces} {rec.limit}\n")
                if self.per_cpu:
                    for cpu, values in sorted(rec.cpus.items()):
                        labels = f'{{{ns + "," if ns else ""}cpu="{cpu}"}}'
                        for name in STATISTICS:
                            stats[name].append(f"nf_conntrack_stat_{name}_total{labels} "
                                               f"{values.get(name, 0)}\n")
                else:
                    for name, v in rec.totals().items():
                        stats[name].append(f"nf_conntrack_stat_{name}_total{braces} {v}\n")
        out = []
        if entries:
            out.append(_family("nf_conntrack_entries", "gauge",
                               "Number of currently allocated flow entries for connection "
                               "tracking.", entries))
            out.append(_family("nf_conntrack_entries_limit", "gauge",
                               "Maximum size of connection tracking table.", limit))
            for name, rows in stats.items():
                out.append(_family(f"nf_conntrack_stat_{name}_total", "counter", HELP[name],
                                   rows))
        out.append(_family("nf_conntrack_up", "gauge",
                           "Whether the last read of the conntrack statistics succeeded (1) or "
                           "not (0: no conntrack in the kernel, namespace gone).", up))
        return "".join(out)
