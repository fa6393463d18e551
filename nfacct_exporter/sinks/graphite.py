"""Graphite plaintext lines for a snapshot: ``<prefix>.<path>.pkts <value> <poll epoch>``.

Paths follow ulogd's GRAPHITE output (``netfilter.nfacct.ipv4.http.pkts``), escaped by
``naming.graphite_name`` so any name stays one valid, distinct path. One timestamp per poll.
``mode: delta`` sends per-poll increments computed here (kernel counters are never reset); a value
that went down is a reset made by someone else, counted from zero. The lines go to the delivery
queue (``carbon.CarbonSender``); nothing is sent from the poller thread.
"""

from nfacct_exporter import naming
from nfacct_exporter.config import GraphiteConfig
from nfacct_exporter.snapshot import Snapshot


class NfacctLines:
    """NFACCT objects → two lines each (``.pkts`` and ``.bytes``)."""

    def __init__(self, cfg: GraphiteConfig, rules: tuple[naming.LabelRule, ...]) -> None:
        self.prefix = cfg.prefix
        self.delta = cfg.mode == "delta"
        self.tags = cfg.tags
        self.rules = rules
        self._paths: dict[str, tuple[str, str]] = {}
        self._last: dict[str, tuple[int, int]] | None = None

    def paths(self, name: str) -> tuple[str, str]:
        """(pkts path, bytes path) for one name, tags appended in tagged mode; cached."""
        p = self._paths.get(name)
        if p is None:
            base = f"{self.prefix}.{naming.graphite_name(name)}"
            suffix = ""
            if self.tags:
                labels = naming.map_labels(self.rules, name)
                suffix = "".join(f";{k}={naming.graphite_component(v)}"
                                 for k, v in sorted(labels.items()))
            if len(self._paths) > 1_000_000:
                self._paths.clear()
            p = self._paths[name] = (f"{base}.pkts{suffix} ", f"{base}.bytes{suffix} ")
        return p

    def lines(self, snapshot: Snapshot) -> list[str]:
        reading = snapshot.get("nfacct")
        if reading is None or not reading.ok:
            return []
        ts = f" {int(snapshot.time)}\n"
        paths = self.paths
        out: list[str] = []
        if not self.delta:
            for o in reading.records:
                p, b = paths(o.name)
                out.append(f"{p}{o.packets}{ts}{b}{o.bytes}{ts}")
            return out
        last, first = self._last or {}, self._last is None
        now: dict[str, tuple[int, int]] = {}
        for o in reading.records:
            now[o.name] = (o.packets, o.bytes)
            if first:
                continue  # no baseline yet: the first poll only records one
            lp, lb = last.get(o.name, (0, 0))
            dp = o.packets - lp if o.packets >= lp else o.packets
            db = o.bytes - lb if o.bytes >= lb else o.bytes
            p, b = paths(o.name)
            out.append(f"{p}{dp}{ts}{b}{db}{ts}")
        self._last = now
        return out
