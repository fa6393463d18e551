"""The status page's memory: per reading key, a ring of its last polls' record keys and counts.

Filed away on the poller thread with C loops only (``array('Q')`` filled by ``map``, then cut into
byte planes shared with the last poll's); rates and histories are computed by the readers.
"""

import sys
from array import array
from collections import deque
from collections.abc import Callable
from operator import is_not, itemgetter
from typing import Any

from nfacct_exporter.records import NfacctObject, NflogCount, NftCounter, nfacct_columns
from nfacct_exporter.sinks.status_query import coarse
from nfacct_exporter.snapshot import Reading

# per source: what identifies a record from one poll to the next, its packets, its bytes (by
# index: itemgetter on a record tuple costs ~30 % less than attrgetter, 10k times a poll)
KEYS: dict[str, Callable[[Any], Any]] = {
    "nfacct": itemgetter(NfacctObject._fields.index("name")),
    "nft": itemgetter(*map(NftCounter._fields.index, ("family", "table", "name"))),
    "nflog": itemgetter(*map(NflogCount._fields.index, ("group", "prefix", "verdict"))),
}
_COUNTS = {source: (itemgetter(kind._fields.index("packets")),  # NFACCT: records.nfacct_columns
                    itemgetter(kind._fields.index("bytes")))
           for source, kind in (("nft", NftCounter), ("nflog", NflogCount))}


class Column:
    """One poll's counts of one kind (packets or bytes) as eight byte planes: plane ``p`` holds
    byte ``p`` (in memory order) of every count. A plane equal to the last poll's is that very
    object, so counts that move only in their low bytes share the rest with the whole ring:
    ~4 bytes a count kept per poll instead of 8 (10k counts at up to 1000 packets/s each)."""

    __slots__ = ("planes",)

    def __init__(self, values: array, like: "Column | None") -> None:
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


class Entry:
    """One poll of one source: its record keys and their packet and byte counts as columns."""

    __slots__ = ("time", "keys", "packets", "bytes", "lost", "_pos")

    def __init__(self, time: float, keys: list, packets: Column, nbytes: Column,
                 lost: dict[int, int]) -> None:
        self.time, self.keys, self.lost = time, keys, lost
        self.packets, self.bytes = packets, nbytes
        self._pos: dict | None = None

    def index(self, key: Any, i: int, last: "Entry") -> int | None:
        """Where ``key`` (index ``i`` in ``last``) is in this poll, None if absent."""
        if self.keys is last.keys:
            return i
        if self._pos is None:
            self._pos = dict(zip(self.keys, range(len(self.keys)), strict=True))
        return self._pos.get(key)

    def values(self, key: Any, i: int, last: "Entry",
               absent: tuple[int, int] | None) -> tuple[int, int] | None:
        """Packets and bytes of ``key`` (index ``i`` in ``last``) at this poll, or ``absent``."""
        j = self.index(key, i, last)
        return absent if j is None else (self.packets[j], self.bytes[j])


class Stream:
    """The ring of one reading key (``nfacct``, ``nflog@ns1``...)."""

    def __init__(self, source: str, netns: str | None, history: int) -> None:
        self.source, self.netns = source, netns
        self.ring: deque[Entry] = deque(maxlen=history)
        self._previous: tuple = ()  # the records of the last entry

    def add(self, time: float, reading: Reading) -> None:
        records, previous = reading.records, self._previous
        lost = {g.group: g.lost for g in reading.extra.get("groups", ())}
        self._previous = records
        if self.ring and len(records) == len(previous) and not any(
                map(is_not, records, previous)):
            # the very records of the last poll (netlink.nfacct_dumper): its columns, shared
            last = self.ring[-1]
            self.ring.append(Entry(time, last.keys, last.packets, last.bytes, lost))
            return
        if self.source == "nfacct":  # the Graphite sink reads the same columns
            keys, pkts, nbytes = nfacct_columns(records)[:3]
        else:
            packets, octets = _COUNTS[self.source]
            keys = list(map(KEYS[self.source], records))
            pkts, nbytes = list(map(packets, records)), list(map(octets, records))
        if self.ring and keys == self.ring[-1].keys:
            keys = self.ring[-1].keys  # shared: later polls find positions without a dict
        last = self.ring[-1] if self.ring else None
        self.ring.append(Entry(time, keys, Column(array("Q", pkts), last and last.packets),
                               Column(array("Q", nbytes), last and last.bytes), lost))


def rate(new: int, old: int | None, seconds: float) -> float | None:
    """Per-second increase; a value that went down (reset, recreated) counts from zero."""
    if old is None or seconds <= 0:
        return None
    return (new - old if new >= old else new) / seconds


def history(ring: tuple[Entry, ...], key: Any, i: int,
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
            pps.append(coarse(rate(b[0], a[0], dt)))
            bps.append(coarse(rate(b[1], a[1], dt)))
    return pps, bps
