"""Graphite plaintext lines for a snapshot: ``<prefix>.<path>.pkts <value> <poll epoch>``.

Paths follow ulogd's GRAPHITE output (``netfilter.nfacct.ipv4.http.pkts``), escaped by
``naming.graphite_name`` so any name stays one valid, distinct path. One timestamp per poll.
``mode: delta`` sends per-poll increments computed here (kernel counters are never reset); a value
that went down is a reset made by someone else, counted from zero. The lines go to the delivery
queue (``carbon.CarbonSender``); nothing is sent from the poller thread.
"""

from itertools import accumulate, compress, repeat
from operator import attrgetter, is_not

from nfacct_exporter import naming
from nfacct_exporter.config import GraphiteConfig
from nfacct_exporter.records import CONNTRACK_STATISTICS, ConntrackStats
from nfacct_exporter.sinks import graphite_delta as delta
from nfacct_exporter.snapshot import Reading, Snapshot

_NAME, _PACKETS, _BYTES = attrgetter("name"), attrgetter("packets"), attrgetter("bytes")
_QUOTA = attrgetter("quota")


class NfacctLines:
    """NFACCT objects → two lines each (``.pkts`` and ``.bytes``), one bytes chunk per poll.

    Lines come in blocks of ``BLOCK`` objects, each from a bytes template (``<path>.pkts %d %s``
    per line; rebuilt when the names change) filled by one ``%``. In total mode a block whose
    records are all the very ones of the last poll (``netlink.nfacct_dumper``) is the last text
    with `` <old timestamp>\\n`` replaced (no path holds a space or newline: exactly every line's
    end), at once for the whole chunk when nothing changed; only the other blocks are formatted.
    """

    BLOCK = 128

    def __init__(self, cfg: GraphiteConfig, rules: tuple[naming.LabelRule, ...]) -> None:
        self.prefix = cfg.prefix
        self.delta = cfg.mode == "delta"
        self.tags = cfg.tags
        self.rules = rules
        self._rows: dict[str | tuple[str | None, str], tuple[bytes, bytes]] = {}
        self._names: list[str] | list[tuple[str | None, str]] = []
        self._templates: list[bytes] = []
        self._last: tuple[list, list[int], list[int]] | None = None  # delta: last poll
        self._instances: dict[str | None, object] = {}  # delta: namespaces read for _last
        # total mode: last chunk's objects, (netns, count) per reading, text, stamp, block ends
        self._objects: tuple | list = ()
        self._shape: list[tuple[str | None, int]] = []
        self._body, self._stamp, self._ends = b"", b"", [0]

    def row(self, key: str | tuple[str | None, str]) -> tuple[bytes, bytes]:
        """(``<pkts path> ``, ``<bytes path> ``) of one name, or of one (netns, name) when
        several namespaces are read; tags appended in tagged mode; cached."""
        row = self._rows.get(key)
        if row is None:
            netns, name = key if isinstance(key, tuple) else (None, key)
            base, suffix = self.path(netns, name)
            if len(self._rows) > naming.CACHE_MAX:
                self._rows.clear()
            row = self._rows[key] = (f"{base}.pkts{suffix} ".encode(),
                                     f"{base}.bytes{suffix} ".encode())
        return row

    def path(self, netns: str | None, name: str) -> tuple[str, str]:
        """(``<prefix>[.<netns>].<name>``, tag suffix or '') of one object."""
        ns = "" if netns is None else naming.graphite_component(netns) + "."
        suffix = ""
        if self.tags:
            labels = naming.map_labels(self.rules, name)
            suffix = "".join(f";{k}={naming.graphite_component(v)}"
                             for k, v in sorted(labels.items()))
        return f"{self.prefix}.{ns}{naming.graphite_name(name)}", suffix

    def quota_lines(self, readings: list[Reading], ts: int) -> bytes:
        """``.quota`` and ``.overquota`` (0/1) of quota objects, beside their ``.pkts``."""
        out = []
        for r in readings:
            for o in compress(r.records, map(is_not, map(_QUOTA, r.records), repeat(None))):
                if o.quota_unit is not None:
                    base, suffix = self.path(r.netns, o.name)
                    over = 1 if o.over_quota else 0
                    out.append(f"{base}.quota{suffix} {o.quota} {ts}\n"
                               f"{base}.overquota{suffix} {over} {ts}\n")
        return "".join(out).encode("utf-8")

    def chunk(self, snapshot: Snapshot) -> bytes:
        """This poll's lines, ready for the carbon backlog (empty without a good reading)."""
        readings = [r for r in snapshot.all("nfacct") if r.ok]
        if not readings:
            return b""
        single = len(readings) == 1 and readings[0].netns is None
        objects = readings[0].records if single else [o for r in readings for o in r.records]
        ts = int(snapshot.time)
        stamp = b"%d" % ts
        if not self.delta:
            text = self._reuse(readings, objects, stamp, ts)
            if text is not None:
                return text
        names: list[str] | list[tuple[str | None, str]]
        if single:
            names = list(map(_NAME, objects))  # no tuple per object: -0.4 ms a poll at 10k
        else:
            names = [(r.netns, o.name) for r in readings for o in r.records]
        pkts, nbytes = list(map(_PACKETS, objects)), list(map(_BYTES, objects))
        if self.delta:
            last, self._last, self._instances = delta.rebase(
                self._last, self._instances, snapshot, readings, (names, pkts, nbytes))
            if last is None:
                return b""  # no baseline yet: the first poll only records one
            pkts, nbytes = delta.increase(last, names, pkts, nbytes)
        if names != self._names:
            self._names, step = names, self.BLOCK
            heads = [p.replace(b"%", b"%%") + b"%d %s\n" for n in names for p in self.row(n)]
            self._templates = [b"".join(heads[i : i + 2 * step])
                               for i in range(0, len(heads), 2 * step)]
        values: list[int | bytes] = [stamp] * (4 * len(objects))
        values[0::4], values[2::4], n = pkts, nbytes, 4 * self.BLOCK
        blocks = [t % tuple(values[j * n : j * n + n]) for j, t in enumerate(self._templates)]
        text = b"".join(blocks) + self.quota_lines(readings, ts)
        if not self.delta:  # what the next polls start from
            self._objects, self._shape, self._stamp = objects, _shape(readings), stamp
            self._body, self._ends = text, list(accumulate(map(len, blocks)))
        return text

    def _reuse(self, readings: list[Reading], objects: tuple | list, stamp: bytes, ts: int
               ) -> bytes | None:
        """Total mode: this poll's text from the last one's when the same objects are read in
        the same places (quota lines too, when nothing changed); None otherwise."""
        last = self._objects
        if len(objects) != len(last) or self._shape != _shape(readings):
            return None
        changed = list(compress(range(len(objects)), map(is_not, objects, last)))
        if any(objects[i].name != last[i].name for i in changed):
            return None  # another object in a place: new names, new templates
        old, new = b" %s\n" % self._stamp, b" %s\n" % stamp
        if len(old) != len(new):
            return None  # the block ends move
        if not changed:
            body = self._body.replace(old, new)
        else:
            step, pieces, start = self.BLOCK, [], 0
            dirty = {i // step for i in changed}
            for j, end in enumerate(self._ends):
                if j in dirty:
                    part = objects[j * step : j * step + step]
                    values: list[int | bytes] = [stamp] * (4 * len(part))
                    values[0::4], values[2::4] = list(map(_PACKETS, part)), list(map(_BYTES, part))
                    pieces.append(self._templates[j] % tuple(values))
                else:
                    pieces.append(self._body[start:end].replace(old, new))
                start = end
            self._ends = list(accumulate(map(len, pieces)))
            body = b"".join(pieces) + self.quota_lines(readings, ts)
        self._objects, self._body, self._stamp = objects, body, stamp
        return body

def _shape(readings: list[Reading]) -> list[tuple[str | None, int]]:
    return [(r.netns, len(r.records)) for r in readings]


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
        self._paths: dict[tuple[str | None, int, str | None, str], tuple[str, str]] = {}
        self._last: dict[str, int] | None = None

    def base(self, netns: str | None) -> str:
        """``<nflog_prefix>`` or, with several namespaces, ``<nflog_prefix>.<netns>``."""
        return self.prefix if netns is None else f"{self.prefix}.{naming.graphite_component(netns)}"

    def paths(self, group: int, prefix: str | None, verdict: str,
              netns: str | None = None) -> tuple[str, str]:
        """(pkts path, bytes path) of one series, each followed by a space; cached."""
        key = (netns, group, prefix, verdict)
        p = self._paths.get(key)
        if p is None:
            if len(self._paths) > naming.CACHE_MAX:
                self._paths.clear()
            if prefix is None:
                part = self.OVERFLOW
            else:
                part = naming.graphite_component(prefix) if prefix else self.EMPTY
            base = f"{self.base(netns)}.{group}.{verdict}.{part}"
            p = self._paths[key] = (f"{base}.pkts ", f"{base}.bytes ")
        return p

    def values(self, snapshot: Snapshot) -> dict[str, int]:
        """{path + space: cumulative value} for every NFLOG series of the snapshot."""
        out: dict[str, int] = {}
        for reading in snapshot.all("nflog"):
            if not reading.ok:
                continue
            for c in reading.records:
                p, b = self.paths(c.group, c.prefix, c.verdict, reading.netns)
                out[p] = out.get(p, 0) + c.packets  # equal paths only for equal prefixes: summed
                out[b] = out.get(b, 0) + c.bytes
            for g in reading.extra.get("groups", ()):
                out[f"{self.base(reading.netns)}.{g.group}.lost.pkts "] = g.lost
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


class NftLines:
    """nftables named counters → ``<nft_prefix>.[<netns>.]<family>.<table>.<name>.pkts|bytes``.

    Each part is one ``naming.graphite_component`` (nft names hold no dots worth splitting on).
    Cumulative values only: ``delta`` mode applies to NFACCT and NFLOG, whose ulogd series it
    continues; these counters have no ulogd history.
    """

    def __init__(self, cfg: GraphiteConfig) -> None:
        self.prefix = cfg.nft_prefix
        self._paths: dict[tuple, tuple[str, str]] = {}

    def paths(self, netns: str | None, family: str, table: str, name: str) -> tuple[str, str]:
        key = (netns, family, table, name)
        p = self._paths.get(key)
        if p is None:
            if len(self._paths) > naming.CACHE_MAX:
                self._paths.clear()
            parts = [family, table, name] if netns is None else [netns, family, table, name]
            base = ".".join([self.prefix, *map(naming.graphite_component, parts)])
            p = self._paths[key] = (f"{base}.pkts ", f"{base}.bytes ")
        return p

    def chunk(self, snapshot: Snapshot) -> bytes:
        ts = f" {int(snapshot.time)}\n"
        out = []
        for reading in snapshot.all("nft"):
            if reading.ok:
                for c in reading.records:
                    p, b = self.paths(reading.netns, c.family, c.table, c.name)
                    out.append(f"{p}{c.packets}{ts}{b}{c.bytes}{ts}")
        return "".join(out).encode("utf-8")


class ConntrackLines:
    """Conntrack statistics → ``<conntrack_prefix>[.<netns>].entries``, ``.entries_limit`` and
    one ``.<statistic>`` per statistic summed over CPUs (``per_cpu``: ``.cpu<N>.<statistic>``);
    cumulative values, like the kernel's."""

    def __init__(self, cfg: GraphiteConfig, per_cpu: bool = False) -> None:
        self.prefix = cfg.conntrack_prefix
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
                        out += [f"{base}.cpu{cpu}.{n} {values.get(n, 0)}{ts}"
                                for n in CONNTRACK_STATISTICS]
                else:
                    out += [f"{base}.{n} {v}{ts}" for n, v in rec.totals().items()]
        return out

    def chunk(self, snapshot: Snapshot) -> bytes:
        """This poll's lines as bytes, appended to the poll's carbon chunk."""
        return "".join(self.lines(snapshot)).encode("utf-8")
