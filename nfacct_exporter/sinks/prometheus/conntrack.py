"""Conntrack statistics → Prometheus text, named as node_exporter's conntrack collector names
them (without its ``node_`` prefix) so its users' queries carry over::

    # TYPE nf_conntrack_entries gauge
    nf_conntrack_entries 3
    # TYPE nf_conntrack_entries_limit gauge
    nf_conntrack_entries_limit 262144
    # TYPE nf_conntrack_stat_insert_failed_total counter
    nf_conntrack_stat_insert_failed_total 0

Statistics are summed over CPUs; with ``per_cpu`` each one has a ``cpu`` label instead. With
several namespaces every series starts with a ``netns`` label. ``nf_conntrack_up`` is among the
exporter's own metrics (``instrumentation``), as it exists for failed readings too.
"""

from nfacct_exporter import naming
from nfacct_exporter.records import CONNTRACK_STATISTICS, ConntrackStats
from nfacct_exporter.sinks.prometheus.text import family
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


class ConntrackRenderer:
    """``ConntrackStats`` records → the ``nf_conntrack_*`` families."""

    def __init__(self, per_cpu: bool = False) -> None:
        self.per_cpu = per_cpu

    def render(self, readings: list[Reading]) -> str:
        """The figures of the (good) readings given."""
        entries, limit = [], []
        stats: dict[str, list[str]] = {s: [] for s in CONNTRACK_STATISTICS}
        for r in readings:
            ns = f'netns="{naming.label_value(r.netns)}"' if r.netns is not None else ""
            braces = f"{{{ns}}}" if ns else ""
            for rec in r.records:
                assert isinstance(rec, ConntrackStats)
                entries.append(f"nf_conntrack_entries{braces} {rec.entries}\n")
                limit.append(f"nf_conntrack_entries_limit{braces} {rec.limit}\n")
                if self.per_cpu:
                    for cpu, values in sorted(rec.cpus.items()):
                        labels = f'{{{ns + "," if ns else ""}cpu="{cpu}"}}'
                        for name in CONNTRACK_STATISTICS:
                            stats[name].append(f"nf_conntrack_stat_{name}_total{labels} "
                                               f"{values.get(name, 0)}\n")
                else:
                    for name, v in rec.totals().items():
                        stats[name].append(f"nf_conntrack_stat_{name}_total{braces} {v}\n")
        if not entries:
            return ""
        out = [family("nf_conntrack_entries", "gauge",
                      "Number of currently allocated flow entries for connection tracking.",
                      entries),
               family("nf_conntrack_entries_limit", "gauge",
                      "Maximum size of connection tracking table.", limit)]
        out += [family(f"nf_conntrack_stat_{name}_total", "counter", HELP[name], rows)
                for name, rows in stats.items()]
        return "".join(out)
