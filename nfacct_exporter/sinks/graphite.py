"""Graphite plaintext lines for a snapshot: ``<prefix>.<path>.pkts <value> <poll epoch>``.

Paths follow ulogd's GRAPHITE output (``netfilter.nfacct.ipv4.http.pkts``), escaped by
``naming.graphite_name`` so any name stays one valid, distinct path. One timestamp per poll.
``mode: delta`` sends per-poll increments computed here (kernel counters are never reset); a value
that went down is a reset made by someone else, counted from zero. The lines go to the delivery
queue (``carbon.CarbonSender``); nothing is sent from the poller thread.
"""

from itertools import compress, repeat
from operator import attrgetter, is_not

from nfacct_exporter import naming
from nfacct_exporter.config import GraphiteConfig
from nfacct_exporter.records import CONNTRACK_STATISTICS, ConntrackStats, nfacct_columns
from nfacct_exporter.sinks import graphite_delta as delta
from nfacct_exporter.snapshot import Reading, Snapshot

_QUOTA = attrgetter("quota")


class NfacctLines:
    """NFACCT objects → two lines each (``.pkts`` and ``.bytes``), one bytes chunk per poll.

    Blocks of ``BLOCK`` objects are made without timestamps, each by one ``%`` of a bytes
    template (``<path>.pkts %d\\n`` per line, rebuilt when the names change; the only place
    paths are kept). The timestamp goes in by a ``replace`` of every ``\\n`` (no path holds a
    space or newline: exactly every line's end), ~5× cheaper than replacing the last poll's
    stamp. In total mode a block whose records equal the last poll's (the very same ones, from
    ``netlink.nfacct_dumper``) is not formatted again.
    """

    BLOCK = 128

    def __init__(self, cfg: GraphiteConfig, rules: tuple[naming.LabelRule, ...]) -> None:
        self.prefix = cfg.prefix
        self.delta = cfg.mode == "delta"
        self.tags = cfg.tags
        self.rules = rules
        self._names: list[str] | list[tuple[str | None, str]] = []
        self._templates: list[bytes] = []
        self._last: tuple[list, list[int], list[int]] | None = None  # delta: last poll
        self._instances: dict[str | None, object] = {}  # delta: namespaces read for _last
        # total mode: last poll's objects, (netns, count) per reading, blocks and quota lines
        self._objects: tuple | list = ()
        self._shape: list[tuple[str | None, int]] = []
        self._blocks: list[bytes] = [b""]

    def path(self, netns: str | None, name: str) -> tuple[str, str]:
        """(``<prefix>[.<netns>].<name>``, tag suffix or '') of one object."""
        ns = "" if netns is None else naming.graphite_component(netns) + "."
        suffix = ""
        if self.tags:
            labels = naming.map_labels(self.rules, name)
            suffix = "".join(f";{k}={naming.graphite_component(v)}"
                             for k, v in sorted(labels.items()))
        return f"{self.prefix}.{ns}{naming.graphite_name(name)}", suffix

    def quota_lines(self, readings: list[Reading]) -> bytes:
        """``.quota`` and ``.overquota`` (0/1) of quota objects, after the ``.pkts`` lines."""
        out = []
        for r in readings:
            for o in compress(r.records, map(is_not, map(_QUOTA, r.records), repeat(None))):
                if o.quota_unit is not None:
                    base, suffix = self.path(r.netns, o.name)
                    out.append(f"{base}.quota{suffix} {o.quota}\n"
                               f"{base}.overquota{suffix} {1 if o.over_quota else 0}\n")
        return "".join(out).encode("utf-8")

    def chunk(self, snapshot: Snapshot) -> bytes:
        """This poll's lines as one bytes (empty without a good reading)."""
        return b"".join(self.parts(snapshot))

    def parts(self, snapshot: Snapshot) -> list[bytes]:
        """This poll's lines in blocks, for the carbon backlog; ``lines`` says how many."""
        readings = [r for r in snapshot.all("nfacct") if r.ok]
        self.lines = 0  # lines of this poll
        if not readings:
            return []
        objects = (readings[0].records if len(readings) == 1 and readings[0].netns is None
                   else [o for r in readings for o in r.records])
        pieces = (self._increments(snapshot, readings, objects) if self.delta
                  else self._totals(readings, objects))
        self.lines = 2 * len(objects) + pieces[-1].count(b"\n") if pieces else 0
        stamp = b" %d\n" % int(snapshot.time)  # per block: no megabyte-sized buffer at all
        return [p.replace(b"\n", stamp) for p in pieces]

    def _totals(self, readings: list[Reading], objects: tuple | list) -> list[bytes]:
        """Total mode's blocks: the last poll's where the same records are in the same places."""
        last, step, shape = self._objects, self.BLOCK, [(r.netns, len(r.records)) for r in readings]
        self._objects, dirty = objects, None
        if shape == self._shape and len(objects) == len(last):
            if objects == last:
                return self._blocks
            dirty = {j for j in range(len(self._templates))
                     if objects[j * step : j * step + step] != last[j * step : j * step + step]}
        self._shape = shape
        names, pkts, nbytes, quota = _columns(readings, objects)
        if self._rename(names):
            dirty = None
        values: list[int] = [0] * (2 * len(objects))
        values[0::2], values[1::2], n = pkts, nbytes, 2 * step
        blocks = self._blocks[:-1] if dirty is not None else [b""] * len(self._templates)
        for j in range(len(blocks)) if dirty is None else dirty:
            blocks[j] = self._templates[j] % tuple(values[j * n : j * n + n])
        blocks.append(self.quota_lines(readings) if quota else b"")
        self._blocks = blocks
        return blocks

    def _increments(self, snapshot: Snapshot, readings: list[Reading], objects: tuple | list
                    ) -> list[bytes]:
        """Delta mode's blocks (none on the first poll: it only records a baseline)."""
        names, pkts, nbytes, quota = _columns(readings, objects)
        last, self._last, self._instances = delta.rebase(
            self._last, self._instances, snapshot, readings, (names, list(pkts), list(nbytes)))
        if last is None:
            return []
        pkts, nbytes = delta.increase(last, names, pkts, nbytes)
        self._rename(names)
        values, n = [0] * (2 * len(pkts)), 2 * self.BLOCK
        values[0::2], values[1::2] = pkts, nbytes
        return [*(t % tuple(values[j * n : j * n + n]) for j, t in enumerate(self._templates)),
                self.quota_lines(readings) if quota else b""]

    def _rename(self, names: list) -> bool:
        """Rebuild the templates if the names (in order) changed; True if they were."""
        if names == self._names:
            return False
        known: dict = {}
        if self._names:  # the paths of the names already templated, from the templates
            heads = b"".join(self._templates).split(b"%d\n")[:-1]
            known = dict(zip(self._names, zip(heads[0::2], heads[1::2], strict=True),
                             strict=True))
        heads = []
        for key in names:
            pair = known.get(key)
            if pair is None:
                netns, name = key if isinstance(key, tuple) else (None, key)
                base, suffix = self.path(netns, name)
                pair = (f"{base}.pkts{suffix} ".encode().replace(b"%", b"%%"),
                        f"{base}.bytes{suffix} ".encode().replace(b"%", b"%%"))
            heads += pair
        self._names, n = names, 2 * self.BLOCK
        self._templates = [b"%d\n".join(heads[i : i + n]) + b"%d\n"
                           for i in range(0, len(heads), n)]
        return True


def _columns(readings: list[Reading], objects: tuple | list
             ) -> tuple[list, list[int], list[int], bool]:
    """(names, packets, bytes, any quota object?), shared with the status sink
    (``records.nfacct_columns``: read only); a name is (netns, name) when several namespaces
    are read."""
    names, pkts, nbytes, quota = nfacct_columns(objects)
    if len(readings) != 1 or readings[0].netns is not None:
        names = [(r.netns, o.name) for r in readings for o in r.records]
    return names, pkts, nbytes, quota


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
