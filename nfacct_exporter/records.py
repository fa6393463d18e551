"""The records a Reading carries: what sources read, in the terms sinks render.

Sources build them (``netlink`` decoders for NFACCT, nft and conntrack, the NFLOG listener for its
tallies);
sinks read them and never need to know the kernel's wire format.
"""

from collections.abc import Sequence
from operator import itemgetter
from typing import NamedTuple


class NfacctObject(NamedTuple):
    """One NFACCT object as the kernel reported it."""

    name: str  # exact name; bytes that are not UTF-8 are kept as surrogate escapes
    packets: int
    bytes: int
    flags: int = 0  # the kernel's NFACCT_F_* bits, as read
    quota: int | None = None
    quota_unit: str | None = None  # "packets" or "bytes" for a quota object, else None
    over_quota: bool = False  # the kernel has seen the quota passed (never cleared by reading)
    rules: int = 0  # rules referencing it: NFACCT_USE less the object's own reference


class NfacctColumns(NamedTuple):
    names: list[str]
    packets: list[int]
    bytes: list[int]
    quota: bool  # any object with a quota


_NAME, _PACKETS, _BYTES, _QUOTA = (itemgetter(NfacctObject._fields.index(f))
                                   for f in ("name", "packets", "bytes", "quota"))
_memo: tuple = ((), NfacctColumns([], [], [], False))


def nfacct_columns(records: Sequence[NfacctObject]) -> NfacctColumns:
    """Names, packets and bytes of one poll's records as lists, made once per poll: the status
    and Graphite sinks both read them from the same records (the last records are remembered,
    by identity, in one atomic assignment: any poller thread may ask)."""
    global _memo
    last, cols = _memo
    if last is records:
        return cols
    quota = list(map(_QUOTA, records)).count(None) != len(records)
    cols = NfacctColumns(list(map(_NAME, records)), list(map(_PACKETS, records)),
                         list(map(_BYTES, records)), quota)
    _memo = (records, cols)
    return cols


class NftCounter(NamedTuple):
    """One named nftables counter."""

    family: str  # ip, ip6, inet, arp, bridge, netdev
    table: str
    name: str
    packets: int
    bytes: int


class NflogCount(NamedTuple):
    """Packets and bytes logged to ``group`` with ``prefix`` (None: the overflow record)."""

    group: int
    prefix: str | None
    verdict: str
    packets: int
    bytes: int


class NflogGroupStats(NamedTuple):
    """Per-group state of the NFLOG listener (in ``Reading.extra["groups"]``)."""

    group: int
    lost: int  # packets the kernel logged but could not deliver (sequence gaps)
    prefixes: int  # distinct prefixes tracked (at most max_prefixes)
    overflow_packets: int  # packets counted under the overflow record


# conntrack statistics as ``conntrack -S`` and ``conntrack -S expect`` name them, in that order
CONNTRACK_STATISTICS = ("found", "invalid", "insert", "insert_failed", "drop", "early_drop",
                        "error", "search_restart", "clash_resolve", "chaintoolong",
                        "expect_new", "expect_create", "expect_delete")


class ConntrackStats(NamedTuple):
    """One namespace's conntrack figures: ``cpus`` maps each CPU to {statistic: value}."""

    entries: int
    limit: int
    cpus: dict[int, dict[str, int]]

    def totals(self) -> dict[str, int]:
        """Every statistic summed over the CPUs (what is exported without ``per_cpu``)."""
        out = dict.fromkeys(CONNTRACK_STATISTICS, 0)
        for values in self.cpus.values():
            for name, v in values.items():
                out[name] += v
        return out


class NflogEventStats(NamedTuple):
    """Packet events of one group (in ``Reading.extra["events"]``): written, dropped by reason."""

    group: int
    written: int
    dropped: tuple[tuple[str, int], ...]  # (reason, events), every reason, zeros included
