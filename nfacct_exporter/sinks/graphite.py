"""Graphite plaintext lines for a snapshot: ``<prefix>.<path>.pkts <value> <poll epoch>``.

Paths follow ulogd's GRAPHITE output (``netfilter.nfacct.ipv4.http.pkts``), escaped by
``naming.graphite_name`` so any name stays one valid, distinct path. One timestamp per poll.
``mode: delta`` sends per-poll increments computed here (kernel counters are never reset); a value
that went down is a reset made by someone else, counted from zero. The lines go to the delivery
queue (``carbon.CarbonSender``); nothing is sent from the poller thread.
"""

from operator import attrgetter

from nfacct_exporter import naming
from nfacct_exporter.config import GraphiteConfig
from nfacct_exporter.snapshot import Snapshot

_NAME, _PACKETS, _BYTES = attrgetter("name"), attrgetter("packets"), attrgetter("bytes")


class NfacctLines:
    """NFACCT objects → two lines each (``.pkts`` and ``.bytes``), one bytes chunk per poll.

    As in ``prometheus.NfacctRenderer``: a bytes template (``<path>.pkts %d %s`` per line) rebuilt
    only when the object names change, filled by one ``%`` with the values and the poll's
    timestamp (formatted once; ``%s`` of bytes is a copy): ~1.7 ms for 10k objects instead of
    ~2.4 ms formatting each line plus ~1 ms encoding.
    """

    def __init__(self, cfg: GraphiteConfig, rules: tuple[naming.LabelRule, ...]) -> None:
        self.prefix = cfg.prefix
        self.delta = cfg.mode == "delta"
        self.tags = cfg.tags
        self.rules = rules
        self._rows: dict[str, bytes] = {}
        self._names: list[str] = []
        self._template = b""
        self._last: tuple[list[str], list[int], list[int]] | None = None  # delta: last poll

    def row(self, name: str) -> bytes:
        """The template's two lines for one name (tags appended in tagged mode); cached."""
        row = self._rows.get(name)
        if row is None:
            base = f"{self.prefix}.{naming.graphite_name(name)}"
            suffix = ""
            if self.tags:
                labels = naming.map_labels(self.rules, name)
                suffix = "".join(f";{k}={naming.graphite_component(v)}"
                                 for k, v in sorted(labels.items()))
            if len(self._rows) > 1_000_000:
                self._rows.clear()
            p, b = (f"{base}.{kind}{suffix}".replace("%", "%%")  # % is literal in a template
                    for kind in ("pkts", "bytes"))
            row = self._rows[name] = f"{p} %d %s\n{b} %d %s\n".encode()
        return row

    def chunk(self, snapshot: Snapshot) -> bytes:
        """This poll's lines, ready for the carbon backlog (empty without a good reading)."""
        reading = snapshot.get("nfacct")
        if reading is None or not reading.ok:
            return b""
        objects = reading.records
        names = list(map(_NAME, objects))
        pkts, nbytes = list(map(_PACKETS, objects)), list(map(_BYTES, objects))
        if self.delta:
            last, self._last = self._last, (names, pkts, nbytes)
            if last is None:
                return b""  # no baseline yet: the first poll only records one
            pkts, nbytes = _increase(last, names, pkts, nbytes)
        if names != self._names:
            self._names, self._template = names, b"".join(map(self.row, names))
        values: list[int | bytes] = [b"%d" % int(snapshot.time)] * (4 * len(objects))
        values[0::4] = pkts
        values[2::4] = nbytes
        return self._template % tuple(values)


def _increase(last: tuple[list[str], list[int], list[int]], names: list[str], pkts: list[int],
              nbytes: list[int]) -> tuple[list[int], list[int]]:
    """Per-object increments since ``last``; a new object counts from 0, a value that went down
    (reset by someone else) from 0 too."""
    last_names, last_pkts, last_bytes = last
    if last_names != names:  # align last poll's values with this poll's objects
        before = dict(zip(last_names, zip(last_pkts, last_bytes, strict=True), strict=True))
        last_pkts = [before.get(n, (0, 0))[0] for n in names]
        last_bytes = [before.get(n, (0, 0))[1] for n in names]
    return list(map(_delta, pkts, last_pkts)), list(map(_delta, nbytes, last_bytes))


def _delta(now: int, before: int) -> int:
    return now - before if now >= before else now


class NflogLines:
    """NFLOG tallies → ``<nflog_prefix>.<group>.<verdict>.<prefix>.pkts`` and ``.bytes``, and
    ``<nflog_prefix>.<group>.lost.pkts`` (no verdict is called ``lost``).

    The log prefix is one ``naming.graphite_component`` (reversible, so distinct prefixes never
    share a path). ``~`` never appears in an escaped component, so two tokens are free: an empty
    prefix is ``~empty``, the overflow record ``~overflow``. Cumulative counts (since the
    exporter started) in ``total`` mode, per-poll increments in ``delta`` mode.
    """

    EMPTY = "~empty"
    OVERFLOW = "~overflow"

    def __init__(self, cfg: GraphiteConfig) -> None:
        self.prefix = cfg.nflog_prefix
        self.delta = cfg.mode == "delta"
        self._paths: dict[tuple[int, str | None, str], tuple[str, str]] = {}
        self._last: dict[str, int] | None = None

    def paths(self, group: int, prefix: str | None, verdict: str) -> tuple[str, str]:
        """(pkts path, bytes path) of one series, each followed by a space; cached."""
        key = (group, prefix, verdict)
        p = self._paths.get(key)
        if p is None:
            if prefix is None:
                part = self.OVERFLOW
            else:
                part = naming.graphite_component(prefix) if prefix else self.EMPTY
            base = f"{self.prefix}.{group}.{verdict}.{part}"
            p = self._paths[key] = (f"{base}.pkts ", f"{base}.bytes ")
        return p

    def values(self, snapshot: Snapshot) -> dict[str, int]:
        """{path + space: cumulative value} for every NFLOG series of the snapshot."""
        reading = snapshot.get("nflog")
        if reading is None or not reading.ok:
            return {}
        out: dict[str, int] = {}
        for c in reading.records:
            p, b = self.paths(c.group, c.prefix, c.verdict)
            out[p] = out.get(p, 0) + c.packets  # equal paths only for equal prefixes: summed
            out[b] = out.get(b, 0) + c.bytes
        for g in reading.extra.get("groups", ()):
            out[f"{self.prefix}.{g.group}.lost.pkts "] = g.lost
        return out

    def lines(self, snapshot: Snapshot) -> list[str]:
        now = self.values(snapshot)
        if not now:
            return []
        ts = f" {int(snapshot.time)}\n"
        if not self.delta:
            return [f"{path}{v}{ts}" for path, v in now.items()]
        last, first = self._last or {}, self._last is None
        self._last = now
        if first:
            return []  # no baseline yet: the first poll only records one
        out = []
        for path, v in now.items():
            before = last.get(path, 0)
            out.append(f"{path}{v - before if v >= before else v}{ts}")
        return out

    def chunk(self, snapshot: Snapshot) -> bytes:
        """This poll's lines as bytes, to append to the NFACCT chunk (one carbon chunk a poll)."""
        return "".join(self.lines(snapshot)).encode("utf-8")
