"""The rows of one poll and the ``/api/status`` query over them: filter, sort, page, NFLOG top.

Query parameters (all optional; a value out of range falls back to its default or bound, and the
answer says what was used)::

    q       words that must all match: ``text`` (in the name or a label value) or ``label=text``
            (in that label; ``netns`` and ``kind`` count as labels), case-insensitive
    sort    name | packets | bytes | packets_per_second | bytes_per_second (default)
    order   desc (default) | asc
    offset  first counter to return (default 0)
    limit   counters to return, 1..1000 (default 50)
    kind    nfacct | nft (default: both)
    top     NFLOG prefixes per verdict, 0..100 (default 10)
"""

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs

from nfacct_exporter.snapshot import Snapshot

SORTS = ("name", "packets", "bytes", "packets_per_second", "bytes_per_second")
KINDS = ("nfacct", "nft")
VERDICT_ORDER = ("drop", "reject", "accept", "log")
LIMIT_MAX, TOP_MAX = 1000, 100


@dataclass(frozen=True)
class Query:
    q: str = ""
    sort: str = "bytes_per_second"
    order: str = "desc"
    offset: int = 0
    limit: int = 50
    kind: str = ""
    top: int = 10

    def terms(self) -> list[tuple[str | None, str]]:
        """``q`` as (label or None, lowercase text) pairs."""
        out: list[tuple[str | None, str]] = []
        for word in self.q.lower().split():
            label, eq, value = word.partition("=")
            out.append((label, value) if eq and label else (None, word))
        return out


def _int(values: dict[str, list[str]], key: str, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(values[key][0]), low), high)
    except (KeyError, ValueError):
        return default


def parse(query_string: str) -> Query:
    """A URL query string → Query (unknown parameters ignored, bad values → defaults)."""
    v = parse_qs(query_string, keep_blank_values=True)
    d = Query()
    sort = v.get("sort", [d.sort])[0]
    order = v.get("order", [d.order])[0]
    kind = v.get("kind", [""])[0]
    return Query(q=v.get("q", [""])[0][:200],
                 sort=sort if sort in SORTS else d.sort,
                 order=order if order in ("asc", "desc") else d.order,
                 offset=_int(v, "offset", 0, 0, 1 << 31),
                 limit=_int(v, "limit", d.limit, 1, LIMIT_MAX),
                 kind=kind if kind in KINDS else "",
                 top=_int(v, "top", d.top, 0, TOP_MAX))


def text(value: str) -> str:
    """A name as readable text: bytes that are not UTF-8 become ``\\xNN`` (as on /metrics)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return value


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def coarse(value: float | None) -> float | None:
    """Four significant digits: enough for a sparkline, a third of the JSON."""
    return None if value is None else float(f"{value:.4g}")


class Rows(Protocol):
    """What the rows of one reading share: their labels and histories, made on demand."""

    def labels(self, key: Any) -> dict[str, str]: ...

    def history(self, key: Any, i: int) -> tuple[list, list]: ...


class Row:
    """One counter (or NFLOG prefix) of the current poll, with its rates over the last poll;
    labels and history come from ``rows`` when asked (a page shows 50 of 10k rows)."""

    __slots__ = ("source", "netns", "key", "packets", "bytes", "pps", "bps", "_rows", "_i",
                 "_labels", "_fields")

    def __init__(self, source: str, netns: str | None, key: Any, packets: int, nbytes: int,
                 pps: float | None, bps: float | None, rows: Rows, i: int) -> None:
        self.source, self.netns, self.key = source, netns, key
        self.packets, self.bytes, self.pps, self.bps = packets, nbytes, pps, bps
        self._rows, self._i = rows, i
        self._labels: dict[str, str] | None = None
        self._fields: dict[str, str] | None = None

    @property
    def labels(self) -> dict[str, str]:
        if self._labels is None:
            self._labels = self._rows.labels(self.key)
        return self._labels

    @property
    def name(self) -> str:
        """The exact name (nflog: the prefix; '' for the overflow record)."""
        if self.source == "nfacct":
            return text(self.key)
        if self.source == "nft":
            return text(self.key[2])
        return "" if self.key[1] is None else text(self.key[1])

    def matches(self, terms: list[tuple[str | None, str]]) -> bool:
        if self._fields is None:
            self._fields = {k: v.lower() for k, v in self.labels.items()}
            self._fields.update(kind=self.source, netns=(self.netns or "").lower())
            self._fields["name"] = self.name.lower()
        f = self._fields
        for label, word in terms:
            if label is not None:
                if word not in f.get(label, "\0"):
                    return False
            elif not any(word in v for v in f.values()):
                return False
        return True

    def item(self) -> dict[str, Any]:
        """The JSON object of this row."""
        pps, bps = self._rows.history(self.key, self._i)
        out: dict[str, Any] = {"kind": self.source}
        if self.source == "nflog":
            group, prefix, verdict = self.key
            out.update(group=group, prefix=None if prefix is None else text(prefix),
                       verdict=verdict)
        else:
            out.update(name=self.name, labels=self.labels)
        out.update(netns=None if self.netns is None else text(self.netns),
                   packets=self.packets, bytes=self.bytes,
                   packets_per_second=rounded(self.pps), bytes_per_second=rounded(self.bps),
                   history={"packets_per_second": pps, "bytes_per_second": bps})
        return out


@dataclass
class Table:
    """Every row of one poll; sorted orders are kept for the poll's later queries."""

    snapshot: Snapshot | None
    interval: float
    counters: list[Row] = field(default_factory=list)
    nflog: list[Row] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    _sorted: dict[tuple[str, str], list[Row]] = field(default_factory=dict)

    def sorted(self, sort: str, order: str) -> list[Row]:
        rows = self._sorted.get((sort, order))
        if rows is None:
            rows = self._sorted.get(("name", "asc"))
            if rows is None:
                rows = sorted(self.counters, key=lambda r: (r.name, r.netns or "", r.source))
                self._sorted[("name", "asc")] = rows
            if sort == "name":
                rows = rows[::-1] if order == "desc" else rows
            else:  # stable: equal values stay in name order; unknown rates always last
                def value(r: Row) -> tuple[bool, float]:
                    v = getattr(r, {"packets_per_second": "pps", "bytes_per_second": "bps"}
                                .get(sort, sort))
                    return (v is None) != (order == "desc"), v or 0
                rows = sorted(rows, key=value, reverse=order == "desc")
            self._sorted[(sort, order)] = rows
        return rows


def nflog_top(rows: list[Row], top: int) -> dict[str, list[dict[str, Any]]]:
    """Per verdict (drops first), the prefixes with the highest packet rate."""
    by_verdict: dict[str, list[Row]] = {}
    for r in rows:
        by_verdict.setdefault(r.key[2], []).append(r)
    order = sorted(by_verdict, key=lambda v: (VERDICT_ORDER.index(v) if v in VERDICT_ORDER
                                              else len(VERDICT_ORDER), v))
    return {v: [r.item() for r in sorted(by_verdict[v], key=lambda r: (
        r.pps is not None, r.pps or 0, r.packets), reverse=True)[:top]] for v in order}


def view(table: Table, query: Query) -> dict[str, Any]:
    """The counters part of the answer: one page after filtering and sorting, and NFLOG."""
    rows = table.sorted(query.sort, query.order)
    if query.kind:
        rows = [r for r in rows if r.source == query.kind]
    terms = query.terms()
    if terms:
        rows = [r for r in rows if r.matches(terms)]
    page = rows[query.offset:query.offset + query.limit]
    return {
        "counters": {"total": len(table.counters), "matched": len(rows), "q": query.q,
                     "sort": query.sort, "order": query.order, "offset": query.offset,
                     "limit": query.limit, "kind": query.kind or None,
                     "items": [r.item() for r in page]},
        "nflog": {"prefixes": len(table.nflog), "top": nflog_top(table.nflog, query.top)},
    }
