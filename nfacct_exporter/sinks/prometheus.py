"""Prometheus text exposition of the counters, rendered at most once per poll, served as bytes.

Rendering 10,000 objects through prometheus_client's collector path takes ~100 ms here, so the
counter families are rendered by hand, at most once per poll (label text cached per name), and
scrapes only copy bytes. prometheus_client still renders the exporter's own metrics
(``instrumentation``).
Sample of what ``NfacctRenderer.render`` produces (HELP lines shortened)::

    # HELP nfacct_packets_total Packets counted by the NFACCT object (...).
    # TYPE nfacct_packets_total counter
    nfacct_packets_total{name="ipv4.http",family="ipv4",app="http"} 19
    # HELP nfacct_bytes_total Bytes counted by the NFACCT object (...).
    # TYPE nfacct_bytes_total counter
    nfacct_bytes_total{name="ipv4.http",family="ipv4",app="http"} 1381
"""

import gzip
import logging
import threading
from collections.abc import Callable, Iterable
from operator import attrgetter

from prometheus_client import CollectorRegistry, generate_latest

from nfacct_exporter import naming
from nfacct_exporter.snapshot import Reading, Snapshot

log = logging.getLogger(__name__)

_NAME, _PACKETS, _BYTES = attrgetter("name"), attrgetter("packets"), attrgetter("bytes")


def family(metric: str, kind: str, help_text: str, rows: Iterable[str]) -> str:
    """One metric family: HELP, TYPE and its sample lines (already formatted)."""
    return f"# HELP {metric} {help_text}\n# TYPE {metric} {kind}\n" + "".join(rows)


class NfacctRenderer:
    """NFACCT objects → ``nfacct_packets_total`` / ``nfacct_bytes_total``, as UTF-8 bytes.

    A poll's text is one bytes template (every sample line with ``%d`` where its value goes) filled
    by a single ``%`` with the values: ~1 ms for 10k objects, against ~4 ms formatting each line
    and encoding the result. The template depends only on the object names, so it is rebuilt
    (from the label text cached per name) only when the set or order of names changes. With
    several namespaces every series starts with a ``netns`` label. Quota objects (rare) add::

        # TYPE nfacct_quota_bytes gauge
        nfacct_quota_bytes{name="month"} 1000000
        # TYPE nfacct_over_quota gauge
        nfacct_over_quota{name="month"} 1
        # TYPE nfacct_over_quota_events_total counter
        nfacct_over_quota_events_total{name="month"} 1
    """

    PACKETS_HELP = "Packets counted by the NFACCT object (kernel value at the last poll)."
    BYTES_HELP = "Bytes counted by the NFACCT object (kernel value at the last poll)."

    def __init__(self, rules: tuple[naming.LabelRule, ...]) -> None:
        self.rules = rules
        self._labels: dict[tuple[str | None, str], str] = {}
        self._keys: list[tuple[str | None, str]] = []
        self._template = self._build([])

    def labels(self, name: str, netns: str | None = None) -> str:
        """Label text for one object name, computed once per (namespace, name)."""
        text = self._labels.get((netns, name))
        if text is None:
            if len(self._labels) > naming.CACHE_MAX:
                self._labels.clear()
            pairs = {"netns": netns} if netns is not None else {}
            pairs.update({"name": name, **naming.map_labels(self.rules, name)})
            text = self._labels[(netns, name)] = naming.label_set(pairs)
        return text

    def _build(self, keys: list[tuple[str | None, str]]) -> bytes:
        # % is literal in a template
        texts = [self.labels(n, ns).replace("%", "%%") for ns, n in keys]
        return "".join([
            family("nfacct_packets_total", "counter", self.PACKETS_HELP,
                   [f"nfacct_packets_total{t} %d\n" for t in texts]),
            family("nfacct_bytes_total", "counter", self.BYTES_HELP,
                   [f"nfacct_bytes_total{t} %d\n" for t in texts]),
        ]).encode("utf-8")

    def render(self, readings: list[Reading]) -> bytes:
        if len(readings) == 1 and readings[0].netns is None:
            objects = readings[0].records
            keys = [(None, n) for n in map(_NAME, objects)]
        else:
            objects = [o for r in readings for o in r.records]
            keys = [(r.netns, o.name) for r in readings for o in r.records]
        if keys != self._keys:
            self._keys, self._template = keys, self._build(keys)
        body = self._template % (*map(_PACKETS, objects), *map(_BYTES, objects))
        return body + self._quotas(readings).encode("utf-8")

    def _quotas(self, readings: list[Reading]) -> str:
        """Quota, over-quota flag and announcements of quota objects (read, never cleared), and
        the failures of the announcements' socket, once there were some."""
        pkts, nbytes, over, events = [], [], [], []
        lost = [f"nfacct_exporter_quota_events_errors_total"
                f"{naming.label_set({'netns': r.netns}) if r.netns is not None else ''} {n}\n"
                for r in readings if (n := r.extra.get("over_quota_events_errors"))]
        for r in readings:
            seen = r.extra.get("over_quota_events", {})
            for o in r.records:
                if o.quota is None or o.quota_unit is None:
                    continue
                t = self.labels(o.name, r.netns)
                if o.quota_unit == "packets":
                    pkts.append(f"nfacct_quota_packets{t} {o.quota}\n")
                else:
                    nbytes.append(f"nfacct_quota_bytes{t} {o.quota}\n")
                over.append(f"nfacct_over_quota{t} {1 if o.over_quota else 0}\n")
                events.append(f"nfacct_over_quota_events_total{t} {seen.get(o.name, 0)}\n")
        out = [family("nfacct_exporter_quota_events_errors_total", "counter",
                      "Failures of the over-quota announcements' socket (some were lost).",
                      lost)] if lost else []
        if not over:
            return "".join(out)
        if pkts:
            out.append(family("nfacct_quota_packets", "gauge",
                              "Packet quota of the NFACCT object.", pkts))
        if nbytes:
            out.append(family("nfacct_quota_bytes", "gauge",
                              "Byte quota of the NFACCT object.", nbytes))
        out.append(family("nfacct_over_quota", "gauge",
                          "Whether the object has passed its quota (1) or not (0).", over))
        out.append(family("nfacct_over_quota_events_total", "counter",
                          "Over-quota announcements the kernel sent since the exporter started.",
                          events))
        return "".join(out)


# Longer than the 127 bytes an NFLOG prefix can have (kernel NF_LOG_PREFIXLEN) and without the
# backslash that non-UTF-8 prefixes render with: no real prefix can ever produce this value.
NFLOG_OVERFLOW_PREFIX = ("~overflow: packets whose prefix came after the group's first "
                         "max_prefixes distinct ones (a value longer than the 127 bytes a real "
                         "NFLOG prefix can have)")


class NflogRenderer:
    """NFLOG tallies → ``nflog_*`` families; sample (HELP lines shortened)::

        # TYPE nflog_packets_total counter
        nflog_packets_total{group="2",prefix="Input IPv4 Default DROP",verdict="drop"} 17
        nflog_packets_total{group="2",prefix="",verdict="drop"} 3
        nflog_packets_total{group="2",prefix="~overflow: packets whose (...)",verdict="drop"} 4
        # TYPE nflog_bytes_total counter
        nflog_bytes_total{group="2",prefix="Input IPv4 Default DROP",verdict="drop"} 1360
        # TYPE nflog_lost_packets_total counter
        nflog_lost_packets_total{group="2"} 0
        # TYPE nflog_prefix_overflow_packets_total counter
        nflog_prefix_overflow_packets_total{group="2"} 4
        # TYPE nflog_prefixes gauge
        nflog_prefixes{group="2"} 2

    Counts start at 0 when the exporter starts; an overflow series exists once its group has
    overflowed. Prefixes differing only in bytes that are not UTF-8 can render alike (``\\xNN``
    text): such series are summed, never emitted twice. The listeners' own receive counts
    (``nfacct_exporter_nflog_*``) are in ``instrumentation``.
    """

    def __init__(self) -> None:
        self._labels: dict[tuple[str | None, int, str | None, str], str] = {}

    def labels(self, group: int, prefix: str | None, verdict: str,
               netns: str | None = None) -> str:
        key = (netns, group, prefix, verdict)
        text = self._labels.get(key)
        if text is None:
            if len(self._labels) > naming.CACHE_MAX:
                self._labels.clear()
            shown = NFLOG_OVERFLOW_PREFIX if prefix is None else prefix
            pairs = {"netns": netns} if netns is not None else {}
            pairs.update({"group": str(group), "prefix": shown, "verdict": verdict})
            text = self._labels[key] = naming.label_set(pairs)
        return text

    def render(self, readings: list[Reading]) -> str:
        rows: dict[str, list[int]] = {}
        lost, overflow, prefixes = [], [], []
        for r in readings:
            for c in r.records:
                t = self.labels(c.group, c.prefix, c.verdict, r.netns)
                row = rows.get(t)
                if row is None:
                    rows[t] = [c.packets, c.bytes]
                else:
                    row[0] += c.packets
                    row[1] += c.bytes
            ns = f'netns="{naming.label_value(r.netns)}",' if r.netns is not None else ""
            for g in r.extra.get("groups", ()):
                grp = f'{{{ns}group="{g.group}"}}'
                lost.append(f"nflog_lost_packets_total{grp} {g.lost}\n")
                overflow.append(f"nflog_prefix_overflow_packets_total{grp} {g.overflow_packets}\n")
                prefixes.append(f"nflog_prefixes{grp} {g.prefixes}\n")
        out = [
            family("nflog_packets_total", "counter",
                   "Packets logged to the NFLOG group with this prefix and received by the "
                   "exporter (since it started).",
                   [f"nflog_packets_total{t} {v[0]}\n" for t, v in rows.items()]),
            family("nflog_bytes_total", "counter",
                   "IP length (IPv4 total length, IPv6 payload length + 40) of those packets.",
                   [f"nflog_bytes_total{t} {v[1]}\n" for t, v in rows.items()]),
            family("nflog_lost_packets_total", "counter",
                   "Packets logged to the group that the kernel could not deliver to the "
                   "exporter (receive buffer full), from gaps in the sequence numbers.", lost),
            family("nflog_prefix_overflow_packets_total", "counter",
                   "Packets counted under the overflow prefix because the group already had "
                   "max_prefixes distinct prefixes.", overflow),
            family("nflog_prefixes", "gauge", "Distinct prefixes counted for the group.",
                   prefixes),
        ]
        return "".join(out)


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


class PrometheusSink:
    """Keeps the latest poll's snapshot and serves it; HTTP threads never touch the kernel.

    The counter families are rendered at the first scrape after a poll, once, and kept for the
    scrapes until the next poll: a poll nobody scrapes (pollinterval 1 s, scrapes every 15 s)
    costs nothing here, instead of ~2 ms per 10k objects on the poller thread.
    """

    def __init__(self, renderers: dict[str, Callable[[list[Reading]], str | bytes]],
                 registry: CollectorRegistry | None = None) -> None:
        self.renderers = renderers
        self.registry = registry or CollectorRegistry()  # own metrics, rendered per scrape
        self._snapshot: Snapshot | None = None
        self._body: bytes | None = b""  # None: not rendered yet for this snapshot
        self._gzipped: bytes | None = None
        self._lock = threading.Lock()  # renderers keep caches: one render at a time

    @property
    def snapshot(self) -> Snapshot | None:
        """The poll being served (read by the own-metrics collector under the scrape's lock)."""
        return self._snapshot

    def publish(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshot, self._body, self._gzipped = snapshot, None, None

    def _counters(self) -> bytes:
        """The last snapshot's families, rendered on first use (called with the lock held)."""
        if self._body is None:
            parts = []
            for source, render in self.renderers.items():
                snap = self._snapshot
                readings = [r for r in snap.all(source) if r.ok] if snap else []
                if not readings:
                    continue
                try:
                    text = render(readings)
                except Exception:  # a renderer bug must not take the other families down
                    log.exception("rendering %s failed", source)
                    continue
                parts.append(text if isinstance(text, bytes) else text.encode("utf-8"))
            self._body = b"".join(parts)
        return self._body

    def exposition(self, gzipped: bool = False) -> bytes:
        """The counters from the last poll followed by the exporter's own metrics.

        gzip output is two gzip members (cached counters + fresh self-metrics): a valid stream.
        """
        with self._lock:  # counters and own metrics (poll time, nfacct_up) of the same poll
            body = self._counters()
            own = generate_latest(self.registry)
            if gzipped and self._gzipped is None:
                self._gzipped = gzip.compress(body, compresslevel=1)
            cached = self._gzipped
        if not gzipped:
            return body + own
        assert cached is not None
        return cached + gzip.compress(own, compresslevel=1)
