"""Declared counters: the ``counters:`` config section, validated into immutable objects.

The exporter reads whatever NFACCT objects exist; declaring them here lets
``nfacct-exporter counters create`` make the missing ones and ``counters rules`` print firewall
rules feeding them, so the set-up lives in the same reviewed file as the label rules. Shape::

    counters:
      - ipv6.dns                        # a bare name: the object only, no rule printed
      - name: ipv4.http                 # at most 31 bytes, no NUL
        quota: {bytes: 10000000000}     # optional: {packets: N} or {bytes: N}
        match:                          # optional, a mapping or a list of them
          direction: in                 # in (default) | out | forward
          family: ipv4                  # ipv4 | ipv6 | both (default)
          protocol: tcp                 # tcp | udp | sctp | dccp | icmp; absent = any
          port: 80                      # either side (or sport / dport); N or "N-M"
"""

from dataclasses import dataclass
from typing import Any

from nfacct_exporter.config.checks import MISSING, Invalid, Reader, anything, choice

NAME_MAX_BYTES = 31  # NFACCT_NAME_MAX (32) less the terminating NUL
DIRECTIONS = ("in", "out", "forward")
FAMILIES = ("ipv4", "ipv6", "both")
PORT_PROTOCOLS = ("tcp", "udp", "sctp", "dccp")
PROTOCOLS = (*PORT_PROTOCOLS, "icmp")  # icmp = ICMP for IPv4, ICMPv6 for IPv6


@dataclass(frozen=True)
class Match:
    """Which packets one rule counts; ports are (low, high) inclusive ranges."""

    direction: str = "in"
    family: str = "both"
    protocol: str | None = None
    port: tuple[int, int] | None = None  # source or destination port
    sport: tuple[int, int] | None = None
    dport: tuple[int, int] | None = None

    def families(self) -> tuple[str, ...]:
        return ("ipv4", "ipv6") if self.family == "both" else (self.family,)


@dataclass(frozen=True)
class Counter:
    """One NFACCT object to declare; ``quota_unit`` is ``packets`` or ``bytes`` with a quota."""

    name: str
    quota: int | None = None
    quota_unit: str | None = None
    matches: tuple[Match, ...] = ()


def check_name(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise Invalid("expected a non-empty string (quote names YAML reads as numbers)")
    if "\0" in v:
        raise Invalid("a name cannot contain NUL")
    if len(v.encode("utf-8", "surrogateescape")) > NAME_MAX_BYTES:
        raise Invalid(f"longer than {NAME_MAX_BYTES} bytes (the kernel's NFACCT name limit)")
    return v


def check_port(v: Any) -> tuple[int, int]:
    """``80``, ``"80"`` or ``"1000-2000"`` → (low, high)."""
    text = str(v) if isinstance(v, (int, str)) and not isinstance(v, bool) else ""
    lo, _, hi = text.partition("-")
    if not (lo.isdigit() and (hi.isdigit() or not _)):
        raise Invalid("expected a port 1..65535 or a range such as \"1000-2000\"")
    low, high = int(lo), int(hi or lo)
    if not 0 < low <= high < 65536:
        raise Invalid("expected a port 1..65535 or a range such as \"1000-2000\"")
    return low, high


def _positive(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 1 << 64:
        raise Invalid("expected an integer 1..2^64-1")
    return v


_MATCH_SPEC = {"direction": choice(*DIRECTIONS), "family": choice(*FAMILIES),
               "protocol": choice(*PROTOCOLS), "port": check_port, "sport": check_port,
               "dport": check_port}


def _match(got: dict[str, Any]) -> Match:
    ports = [k for k in ("port", "sport", "dport") if k in got]
    if "port" in got and len(ports) > 1:
        raise Invalid("'port' (either side) excludes 'sport' and 'dport'")
    if ports and got.get("protocol") not in PORT_PROTOCOLS:
        raise Invalid(f"'{ports[0]}' needs 'protocol' " + ", ".join(PORT_PROTOCOLS))
    return Match(**got)


def parse(r: Reader, data: Any) -> tuple[Counter, ...]:
    """The ``counters:`` list → Counters, reporting every problem through ``r``."""
    if not isinstance(data, list):
        r.error("counters", data, "expected a list of names or {name: ...} mappings")
        return ()
    out: list[Counter] = []
    seen: set[str] = set()
    for i, item in enumerate(data):
        key = f"counters[{i}]"
        if isinstance(item, dict):
            got = r.section(item, key, {"name": check_name, "quota": anything,
                                        "match": anything})
            if "name" not in item:
                r.error(key, MISSING, "a counter needs 'name'")
            name_key = f"{key}.name"
        else:  # a bare name
            got, name_key = {}, key
            try:
                got["name"] = check_name(item)
            except Invalid as e:
                r.error(key, item, str(e))
        if "name" not in got:
            continue
        if got["name"] in seen:
            r.error(name_key, got["name"], "declared twice")
            continue
        seen.add(got["name"])
        quota, unit = _quota(r, got.get("quota"), f"{key}.quota")
        matches = []
        raw = got.get("match")
        for j, m in enumerate(raw if isinstance(raw, list) else [] if raw is None else [raw]):
            mkey = f"{key}.match[{j}]" if isinstance(raw, list) else f"{key}.match"
            fields = r.section(m, mkey, _MATCH_SPEC)
            if not isinstance(m, dict) or len(fields) != len(m):
                continue  # already reported
            try:
                matches.append(_match(fields))
            except Invalid as e:
                r.error(mkey, MISSING, str(e))
        out.append(Counter(got["name"], quota, unit, tuple(matches)))
    return tuple(out)


def _quota(r: Reader, raw: Any, key: str
           ) -> tuple[int | None, str | None]:
    """``{packets: N}`` or ``{bytes: N}`` → (N, unit); (None, None) when absent or invalid."""
    if raw is None:
        return None, None
    q = r.section(raw, key, {"packets": _positive, "bytes": _positive})
    if isinstance(raw, dict) and len(raw) != 1:
        r.error(key, MISSING, "give exactly one of 'packets' or 'bytes'")
        return None, None
    if not q:
        return None, None
    unit, value = next(iter(q.items()))
    return value, unit
