"""The ``graphite:`` section: where and how to push lines to carbon."""

import socket
from dataclasses import dataclass
from typing import Any

from nfacct_exporter import naming
from nfacct_exporter.config.checks import (
    MISSING,
    Invalid,
    Reader,
    boolean,
    choice,
    integer,
    number,
    string,
)


@dataclass(frozen=True)
class GraphiteConfig:
    host: str
    port: int = 2003
    prefix: str = "netfilter.nfacct"
    mode: str = "total"  # total: cumulative counters; delta: increments per poll (ulogd style)
    timeout: float = 5.0
    # 64 MiB: a 10k-object poll is ~1.2 MB of lines, so >= 9 minutes at pollinterval 10 even
    # uncompressed; polls waiting during an outage are kept zlib-compressed (4-5x), ~40 minutes.
    backlog_memcap: int = 64 * 1024 * 1024
    tags: bool = False
    flush_grace: float = 5.0  # seconds SIGTERM waits for the backlog to reach carbon
    nflog_prefix: str = "netfilter.nflog"  # <nflog_prefix>.<group>.<verdict>.<prefix>.pkts
    nft_prefix: str = "netfilter.nft"  # <nft_prefix>.<family>.<table>.<name>.pkts
    conntrack_prefix: str = "netfilter.conntrack"  # <conntrack_prefix>.<statistic>


def _prefix(v: Any) -> str:
    """Validate the template, then expand ``{hostname}``/``{fqdn}`` for this host."""
    v = string(v)
    problems = naming.prefix_errors(v)
    if problems:
        raise Invalid("; ".join(problems))
    fqdn = socket.getfqdn() if "{fqdn}" in v else ""
    return naming.expand_prefix(v, socket.gethostname(), fqdn)


def _seconds(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1e6:
        raise Invalid("expected a number of seconds, 0 or more")
    return float(v)


_SPEC = {
    "host": string,
    "port": integer(1, 65535),
    "prefix": _prefix,
    "mode": choice("total", "delta"),
    "timeout": number(0.0),
    "backlog_memcap": integer(0, 1 << 40),
    "tags": boolean,
    "flush_grace": _seconds,
    "nflog_prefix": _prefix,
    "nft_prefix": _prefix,
    "conntrack_prefix": _prefix,
}


def parse(r: Reader, data: Any) -> GraphiteConfig | None:
    """The ``graphite:`` mapping → GraphiteConfig (None if invalid), problems reported to ``r``."""
    g = r.section(data, "graphite", _SPEC)
    if "host" not in g:
        if isinstance(data, dict) and "host" not in data:
            r.error("graphite", MISSING, "'host' is required when graphite is configured")
        return None
    cfg = GraphiteConfig(**g)
    _distinct_prefixes(r, cfg)
    return cfg


def _distinct_prefixes(r: Reader, g: GraphiteConfig) -> None:
    """NFACCT, NFLOG, nft and conntrack paths must live in separate subtrees, or an object named
    like an nft counter (``inet.filter.http``) would write the same whisper file."""
    named = {"prefix": g.prefix, "nflog_prefix": g.nflog_prefix, "nft_prefix": g.nft_prefix,
             "conntrack_prefix": g.conntrack_prefix}
    items = list(named.items())
    for i, (a, pa) in enumerate(items):
        for b, pb in items[i + 1:]:
            if (pa == pb or pa.startswith(pb + ".") or pb.startswith(pa + ".")):
                r.error(f"graphite.{b}", pb, f"overlaps graphite.{a} ({pa!r}): the paths of "
                        "NFACCT, NFLOG, nft and conntrack must not share a subtree")
