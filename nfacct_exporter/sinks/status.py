"""Live status: a bounded ring of recent readings per counter, rates, and the ``/api/status`` view.

``publish()`` runs on the poller thread and only files each reading's values away
(``status_ring``: C loops, no per-counter Python code, no JSON). Rows, rates, sorting and JSON
are computed when someone asks, at most once per poll (rows) and per poll and query (JSON), on
the asking thread. Sample of one counter in the JSON (see the README)::

    {"kind": "nfacct", "name": "ipv4.http", "netns": null, "labels": {"family": "ipv4"},
     "packets": 19, "bytes": 1381, "packets_per_second": 1.9, "bytes_per_second": 138.1,
     "history": {"packets_per_second": [0.0, 1.9], "bytes_per_second": [0.0, 138.1]}}
"""

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from nfacct_exporter import naming
from nfacct_exporter.sinks import status_query
from nfacct_exporter.sinks.status_query import Query, Row
from nfacct_exporter.sinks.status_ring import KEYS, Entry, Stream, history, rate
from nfacct_exporter.snapshot import Snapshot

HISTORY = 31  # readings kept per source and namespace: 30 rates per sparkline
CACHED_QUERIES = 64  # JSON answers kept for the current poll

class _Labels:
    """Mapped labels of record keys, as on /metrics (nft adds family and table), made for the
    rows asked for and kept while asked for: a key nobody asked about for a whole poll is
    dropped, so no per-name cache (~4 MiB at 10k names) outlives the status page's use."""

    def __init__(self, rules: tuple[naming.LabelRule, ...]) -> None:
        self.rules = rules
        self._now: dict[tuple[str, Any], dict[str, str]] = {}
        self._before: dict[tuple[str, Any], dict[str, str]] = {}

    def new_poll(self) -> None:
        self._before, self._now = self._now, {}

    def get(self, source: str, key: Any) -> dict[str, str]:
        labels = self._now.get((source, key))
        if labels is None:
            labels = self._before.pop((source, key), None)
            if labels is None:
                labels = self._make(source, key)
            self._now[(source, key)] = labels
        return labels

    def _make(self, source: str, key: Any) -> dict[str, str]:
        if source == "nfacct":
            labels = naming.map_labels(self.rules, key)
        elif source == "nft":
            labels = {"family": key[0], "table": key[1]}
            for k, v in naming.map_labels(self.rules, key[2]).items():
                labels.setdefault(k, v)
        else:
            labels = {}
        return {k: status_query.text(v) for k, v in labels.items()}


class _Rows:
    """What the rows of one reading share in one poll's table: its ring and its labels."""

    __slots__ = ("labeller", "source", "ring", "absent")

    def __init__(self, labeller: _Labels, source: str, ring: tuple[Entry, ...],
                 absent: tuple[int, int] | None) -> None:
        self.labeller, self.source, self.ring, self.absent = labeller, source, ring, absent

    def history(self, key: Any, i: int) -> tuple[list, list]:
        return history(self.ring, key, i, self.absent)

    def labels(self, key: Any) -> dict[str, str]:
        return self.labeller.get(self.source, key)


class StatusSink:
    """Keeps recent readings of NFACCT objects, nft named counters and NFLOG prefixes.

    Health comes from the objects given here: ``carbon`` (a CarbonSender: ``connected``,
    ``backlog_lines``, ``lines_dropped``...) and ``reload`` (a callable returning a mapping
    such as ``{"successful": True, "timestamp": 1795...}``).
    """

    def __init__(self, rules: tuple[naming.LabelRule, ...], interval: float,
                 carbon: Any = None, reload: Callable[[], Mapping[str, Any]] | None = None,
                 history: int = HISTORY) -> None:
        self.rules = rules
        self.interval = interval
        self.carbon = carbon
        self.reload = reload
        self.history = history
        self._streams: dict[str, Stream] = {}
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()  # publish vs. readers taking the rings
        self._build = threading.Lock()  # one build of rows and JSON at a time
        self._table: status_query.Table | None = None
        self._answers: dict[Query, bytes] = {}
        self._labels = _Labels(rules)

    def publish(self, snapshot: Snapshot) -> None:
        with self._lock:
            for key, reading in snapshot.readings.items():
                if reading.source in KEYS and reading.ok:
                    stream = self._streams.get(key)
                    if stream is None:
                        stream = self._streams[key] = Stream(reading.source, reading.netns,
                                                              self.history)
                    stream.add(snapshot.time, reading)
            for gone in [k for k in self._streams if k not in snapshot.readings]:
                del self._streams[gone]
            self._snapshot, self._table, self._answers = snapshot, None, {}
            self._labels.new_poll()

    def adopt(self, predecessor: "StatusSink") -> None:
        """Start from a reloaded pipeline's recent readings (copied: both may poll a moment)."""
        with predecessor._lock:
            streams = {k: (st.source, st.netns, tuple(st.ring))
                       for k, st in predecessor._streams.items()}
        with self._lock:
            for key, (source, netns, ring) in streams.items():
                stream = self._streams[key] = Stream(source, netns, self.history)
                stream.ring.extend(ring)

    # --- readers (HTTP threads) -----------------------------------------------------------------
    def view(self, query: Query) -> dict[str, Any]:
        """The status as a JSON-ready dict: health, one page of counters, NFLOG top prefixes."""
        with self._build:
            table = self._current()
            out = status_query.view(table, query)
            out["health"] = self._health(table)
            return out

    def json(self, query: Query) -> bytes:
        """``view(query)`` as UTF-8 JSON, cached until the next poll."""
        with self._build:
            answers = self._answers
            body = answers.get(query)
        if body is None:
            body = json.dumps(self.view(query), ensure_ascii=False, separators=(",", ":"),
                              allow_nan=False).encode("utf-8")
            with self._build:
                if answers is self._answers and len(answers) < CACHED_QUERIES:
                    answers[query] = body
        return body

    def _current(self) -> status_query.Table:
        """This poll's rows (built on first use after each poll; called with ``_build`` held)."""
        with self._lock:
            table, snap = self._table, self._snapshot
            if table is not None:
                return table
            rings = [(k, s.source, s.netns, tuple(s.ring)) for k, s in self._streams.items()
                     if snap is not None and snap.readings[k].ok]
        table = status_query.Table(snap, self.interval)
        for _, source, netns, ring in rings:
            self._rows(table, source, netns, ring)
        with self._lock:
            if self._snapshot is snap:
                self._table = table
        return table

    def _rows(self, table: status_query.Table, source: str, netns: str | None,
              ring: tuple[Entry, ...]) -> None:
        last = ring[-1]
        prev = ring[-2] if len(ring) > 1 else None
        dt = last.time - prev.time if prev is not None else 0.0
        # NFLOG counts start with the exporter: a prefix not seen at the last poll had none yet
        absent = (0, 0) if source == "nflog" else None
        packets, nbytes = last.packets.full(), last.bytes.full()
        shared = _Rows(self._labels, source, ring, absent)
        if prev is not None:
            old_packets, old_bytes = prev.packets.full(), prev.bytes.full()
        for i, key in enumerate(last.keys):
            pk, by = packets[i], nbytes[i]
            old = None
            if prev is not None:
                j = prev.index(key, i, last)
                old = absent if j is None else (old_packets[j], old_bytes[j])
            row = Row(source, netns, key, pk, by, rate(pk, old[0] if old else None, dt),
                      rate(by, old[1] if old else None, dt), shared, i)
            (table.nflog if source == "nflog" else table.counters).append(row)
        if source == "nflog":
            for group, lost in sorted(last.lost.items()):
                before = prev.lost.get(group) if prev is not None else None
                table.groups.append({"group": group, "netns": netns, "lost": lost,
                                     "lost_per_second": status_query.rounded(
                                         rate(lost, before, dt))})

    def _health(self, table: status_query.Table) -> dict[str, Any]:
        snap = table.snapshot
        out: dict[str, Any] = {"poll_time": snap.time if snap else None,
                               "poll_duration": snap.duration if snap else None,
                               "poll_seq": snap.seq if snap else 0,
                               "interval": self.interval}
        readings = list(snap.readings.values()) if snap else []
        out["objects"] = sum(len(r.records) for r in readings if r.source == "nfacct" and r.ok)
        out["nft_counters"] = sum(len(r.records) for r in readings if r.source == "nft" and r.ok)
        out["sources"] = [{"source": r.source, "netns": r.netns, "ok": r.ok,
                           "error": r.error, "duration": r.duration} for r in readings]
        nflog = [r for r in readings if r.source == "nflog"]
        out["nflog"] = None if not nflog else {
            "lost": sum(g["lost"] for g in table.groups),
            "receive_errors": sum(r.extra.get("receive_errors", 0) for r in nflog),
            "groups": table.groups}
        c = self.carbon
        out["graphite"] = None if c is None else {
            "connected": bool(c.connected), "backlog_lines": c.backlog_lines,
            "backlog_bytes": c.backlog_bytes, "lines_sent": c.lines_sent,
            "lines_dropped": c.lines_dropped}
        out["reload"] = dict(self.reload()) if self.reload is not None else None
        return out
