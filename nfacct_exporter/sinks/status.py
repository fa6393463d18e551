"""Live status: a bounded ring of recent readings per counter, rates, and the ``/api/status`` view.

``publish()`` runs on the poller thread and only files each reading's values away as columns
(``array('Q')`` filled by ``map``, kept as byte planes shared with the last poll's: C loops, no
per-counter Python code, no JSON). Rows, rates,
sorting and JSON are computed when someone asks, at most once per poll (rows) and per poll and
query (JSON), on the asking thread. Sample of one counter in the JSON (see the README)::

    {"kind": "nfacct", "name": "ipv4.http", "netns": null, "labels": {"family": "ipv4"},
     "packets": 19, "bytes": 1381, "packets_per_second": 1.9, "bytes_per_second": 138.1,
     "history": {"packets_per_second": [0.0, 1.9], "bytes_per_second": [0.0, 138.1]}}
"""

import json
import sys
import threading
from array import array
from collections import deque
from collections.abc import Callable, Mapping
from functools import partial
from operator import is_not, itemgetter
from typing import Any

from nfacct_exporter import naming
from nfacct_exporter.records import NfacctObject, NflogCount, NftCounter
from nfacct_exporter.sinks import status_query
from nfacct_exporter.sinks.status_query import Query, Row
from nfacct_exporter.snapshot import Reading, Snapshot

HISTORY = 31  # readings kept per source and namespace: 30 rates per sparkline
CACHED_QUERIES = 64  # JSON answers kept for the current poll

# per source: what identifies a record from one poll to the next, its packets, its bytes (by
# index: itemgetter on a record tuple costs ~30 % less than attrgetter, 10k times a poll)
_RECORDS = {"nfacct": NfacctObject, "nft": NftCounter, "nflog": NflogCount}
_KEYS: dict[str, Callable[[Any], Any]] = {
    "nfacct": itemgetter(NfacctObject._fields.index("name")),
    "nft": itemgetter(*map(NftCounter._fields.index, ("family", "table", "name"))),
    "nflog": itemgetter(*map(NflogCount._fields.index, ("group", "prefix", "verdict"))),
}
_COUNTS = {source: (itemgetter(kind._fields.index("packets")),
                    itemgetter(kind._fields.index("bytes"))) for source, kind in _RECORDS.items()}


class _Column:
    """One poll's counts of one kind (packets or bytes) as eight byte planes: plane ``p`` holds
    byte ``p`` (in memory order) of every count. A plane equal to the last poll's is that very
    object, so counts that move only in their low bytes share the rest with the whole ring:
    ~3 bytes a count kept per poll instead of 8."""

    __slots__ = ("planes",)

    def __init__(self, values: array, like: "_Column | None") -> None:
        raw = values.tobytes()
        planes = [raw[p::8] for p in range(8)]
        if like is not None:  # == is a memcmp, and a plane of another length never equal
            planes = [o if o == n else n for o, n in zip(like.planes, planes, strict=True)]
        self.planes = tuple(planes)

    def __getitem__(self, j: int) -> int:
        return int.from_bytes(bytes([p[j] for p in self.planes]), sys.byteorder)

    def full(self) -> array:
        """Every count, as an ``array('Q')`` (for reading all of them: ~50 µs at 10k)."""
        buf = bytearray(8 * len(self.planes[0]))
        for p, plane in enumerate(self.planes):
            buf[p::8] = plane
        return array("Q", bytes(buf))


class _Entry:
    """One poll of one source: its record keys and their packet and byte counts as columns."""

    __slots__ = ("time", "keys", "packets", "bytes", "lost", "_pos")

    def __init__(self, time: float, keys: list, packets: _Column, nbytes: _Column,
                 lost: dict[int, int]) -> None:
        self.time, self.keys, self.lost = time, keys, lost
        self.packets, self.bytes = packets, nbytes
        self._pos: dict | None = None

    def index(self, key: Any, i: int, last: "_Entry") -> int | None:
        """Where ``key`` (index ``i`` in ``last``) is in this poll, None if absent."""
        if self.keys is last.keys:
            return i
        if self._pos is None:
            self._pos = dict(zip(self.keys, range(len(self.keys)), strict=True))
        return self._pos.get(key)

    def values(self, key: Any, i: int, last: "_Entry",
               absent: tuple[int, int] | None) -> tuple[int, int] | None:
        """Packets and bytes of ``key`` (index ``i`` in ``last``) at this poll, or ``absent``."""
        j = self.index(key, i, last)
        return absent if j is None else (self.packets[j], self.bytes[j])


class _Stream:
    """The ring of one reading key (``nfacct``, ``nflog@ns1``...)."""

    def __init__(self, source: str, netns: str | None, history: int) -> None:
        self.source, self.netns = source, netns
        self.ring: deque[_Entry] = deque(maxlen=history)
        self._previous: tuple = ()  # the records of the last entry

    def add(self, time: float, reading: Reading) -> None:
        records, previous = reading.records, self._previous
        lost = {g.group: g.lost for g in reading.extra.get("groups", ())}
        self._previous = records
        if self.ring and len(records) == len(previous) and not any(
                map(is_not, records, previous)):
            # the very records of the last poll (netlink.nfacct_dumper): its columns, shared
            last = self.ring[-1]
            self.ring.append(_Entry(time, last.keys, last.packets, last.bytes, lost))
            return
        keys = list(map(_KEYS[self.source], records))
        if self.ring and keys == self.ring[-1].keys:
            keys = self.ring[-1].keys  # shared: later polls find positions without a dict
        last = self.ring[-1] if self.ring else None
        packets, nbytes = _COUNTS[self.source]
        self.ring.append(_Entry(
            time, keys, _Column(array("Q", map(packets, records)), last and last.packets),
            _Column(array("Q", map(nbytes, records)), last and last.bytes), lost))


def rate(new: int, old: int | None, seconds: float) -> float | None:
    """Per-second increase; a value that went down (reset, recreated) counts from zero."""
    if old is None or seconds <= 0:
        return None
    return (new - old if new >= old else new) / seconds


def history(ring: tuple[_Entry, ...], key: Any, i: int,
            absent: tuple[int, int] | None) -> tuple[list, list]:
    """Packet and byte rates between consecutive readings of ``key`` (None where unknown)."""
    last = ring[-1]
    points = [e.values(key, i, last, absent) for e in ring]
    pps: list[float | None] = []
    bps: list[float | None] = []
    for k in range(1, len(ring)):
        a, b = points[k - 1], points[k]
        if a is None or b is None:
            pps.append(None)
            bps.append(None)
        else:
            dt = ring[k].time - ring[k - 1].time
            pps.append(status_query.coarse(rate(b[0], a[0], dt)))
            bps.append(status_query.coarse(rate(b[1], a[1], dt)))
    return pps, bps


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
        self._streams: dict[str, _Stream] = {}
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()  # publish vs. readers taking the rings
        self._build = threading.Lock()  # one build of rows and JSON at a time
        self._table: status_query.Table | None = None
        self._answers: dict[Query, bytes] = {}
        self._labels: dict[tuple, dict[str, str]] = {}

    def publish(self, snapshot: Snapshot) -> None:
        with self._lock:
            for key, reading in snapshot.readings.items():
                if reading.source in _KEYS and reading.ok:
                    stream = self._streams.get(key)
                    if stream is None:
                        stream = self._streams[key] = _Stream(reading.source, reading.netns,
                                                              self.history)
                    stream.add(snapshot.time, reading)
            for gone in [k for k in self._streams if k not in snapshot.readings]:
                del self._streams[gone]
            self._snapshot, self._table, self._answers = snapshot, None, {}

    def adopt(self, predecessor: "StatusSink") -> None:
        """Start from a reloaded pipeline's recent readings (copied: both may poll a moment)."""
        with predecessor._lock:
            streams = {k: (st.source, st.netns, tuple(st.ring))
                       for k, st in predecessor._streams.items()}
        with self._lock:
            for key, (source, netns, ring) in streams.items():
                stream = self._streams[key] = _Stream(source, netns, self.history)
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
              ring: tuple[_Entry, ...]) -> None:
        last = ring[-1]
        prev = ring[-2] if len(ring) > 1 else None
        dt = last.time - prev.time if prev is not None else 0.0
        # NFLOG counts start with the exporter: a prefix not seen at the last poll had none yet
        absent = (0, 0) if source == "nflog" else None
        packets, nbytes = last.packets.full(), last.bytes.full()
        if prev is not None:
            old_packets, old_bytes = prev.packets.full(), prev.bytes.full()
        for i, key in enumerate(last.keys):
            pk, by = packets[i], nbytes[i]
            old = None
            if prev is not None:
                j = prev.index(key, i, last)
                old = absent if j is None else (old_packets[j], old_bytes[j])
            row = Row(source, netns, key, self._label_set(source, key), pk, by,
                      rate(pk, old[0] if old else None, dt), rate(by, old[1] if old else None, dt),
                      partial(history, ring, key, i, absent))
            (table.nflog if source == "nflog" else table.counters).append(row)
        if source == "nflog":
            for group, lost in sorted(last.lost.items()):
                before = prev.lost.get(group) if prev is not None else None
                table.groups.append({"group": group, "netns": netns, "lost": lost,
                                     "lost_per_second": status_query.rounded(
                                         rate(lost, before, dt))})

    def _label_set(self, source: str, key: Any) -> dict[str, str]:
        """Mapped labels of a name, as on /metrics (nft adds family and table)."""
        labels = self._labels.get((source, key))
        if labels is None:
            if len(self._labels) > naming.CACHE_MAX:
                self._labels.clear()
            if source == "nfacct":
                labels = naming.map_labels(self.rules, key)
            elif source == "nft":
                labels = {"family": key[0], "table": key[1]}
                for k, v in naming.map_labels(self.rules, key[2]).items():
                    labels.setdefault(k, v)
            else:
                labels = {}
            labels = self._labels[(source, key)] = {k: status_query.text(v)
                                                    for k, v in labels.items()}
        return labels

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
