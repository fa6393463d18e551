"""nftables named counters → ``nftables_packets_total`` / ``nftables_bytes_total``."""

from nfacct_exporter import naming
from nfacct_exporter.sinks.prometheus.text import family
from nfacct_exporter.snapshot import Reading


class NftRenderer:
    """nftables named counters → ``nftables_packets_total`` / ``_bytes_total``::

        # TYPE nftables_packets_total counter
        nftables_packets_total{family="inet",table="filter",name="http"} 12

    The label rules map the counter's name, as they map NFACCT names.
    """

    def __init__(self, rules: tuple[naming.LabelRule, ...]) -> None:
        self.rules = rules
        self._labels: dict[tuple[str | None, str, str, str], str] = {}

    def labels(self, family: str, table: str, name: str, netns: str | None = None) -> str:
        key = (netns, family, table, name)
        text = self._labels.get(key)
        if text is None:
            if len(self._labels) > naming.CACHE_MAX:
                self._labels.clear()
            pairs = {"netns": netns} if netns is not None else {}
            pairs.update({"family": family, "table": table, "name": name})
            for k, v in naming.map_labels(self.rules, name).items():
                pairs.setdefault(k, v)  # mapped labels never replace family/table/name
            text = self._labels[key] = naming.label_set(pairs)
        return text

    def render(self, readings: list[Reading]) -> str:
        rows = [(self.labels(c.family, c.table, c.name, r.netns), c)
                for r in readings for c in r.records]
        return (family("nftables_packets_total", "counter",
                       "Packets counted by the nftables named counter.",
                       [f"nftables_packets_total{t} {c.packets}\n" for t, c in rows])
                + family("nftables_bytes_total", "counter",
                         "Bytes counted by the nftables named counter.",
                         [f"nftables_bytes_total{t} {c.bytes}\n" for t, c in rows]))
