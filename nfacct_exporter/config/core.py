"""YAML configuration → validated, typed, immutable ``Config``.

Every key is optional and unknown keys are errors. All problems are reported at once, each on one
line naming the file, the line and the key, so ``--check`` and the daemon refuse a bad file
before doing anything else. Each section has its own module; this one holds the top-level keys
and ``prometheus.listen``.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from nfacct_exporter import naming
from nfacct_exporter.config import (
    conntrack,
    counters,
    graphite,
    labels,
    loader,
    namespaces,
    nflog,
)
from nfacct_exporter.config.checks import Invalid, Reader, anything, boolean, number, string
from nfacct_exporter.config.conntrack import ConntrackConfig
from nfacct_exporter.config.counters import Counter
from nfacct_exporter.config.graphite import GraphiteConfig
from nfacct_exporter.config.nflog import NflogGroup

DEFAULT_PORT = 9849
DEFAULT_LISTEN = f":{DEFAULT_PORT}"


@dataclass(frozen=True)
class Config:
    path: str | None = None
    pollinterval: float = 10.0
    listen: str = DEFAULT_LISTEN
    netns: str | None = None
    namespaces: tuple[tuple[str, str], ...] = ()  # other namespaces read: (path, netns label)
    nft_counters: bool = False  # also read nftables named counters
    conntrack: ConntrackConfig | None = None  # also read conntrack statistics
    graphite: GraphiteConfig | None = None
    labels: tuple[naming.LabelRule, ...] = field(default_factory=tuple)
    counters: tuple[Counter, ...] = ()  # declared objects (counters create / rules)
    nflog: tuple[NflogGroup, ...] = ()  # NFLOG groups to count (none: no source)


_LISTEN = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]*)):(?P<port>\d{1,5})$")


def parse_listen(v: Any) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` (all addresses) or ``[V6]:PORT`` → (host, port)."""
    m = _LISTEN.match(v) if isinstance(v, str) else None
    if not m or not 0 < int(m["port"]) < 65536:
        raise Invalid("expected HOST:PORT, :PORT or [IPV6]:PORT with a port 1..65535")
    return (m["v6"] if m["v6"] is not None else m["host"]), int(m["port"])


def _listen(v: Any) -> str:
    parse_listen(v)
    return v


_TOP = {
    "pollinterval": number(0.0),
    "prometheus": anything,
    "graphite": anything,
    "labels": anything,
    "netns": string,
    "namespaces": anything,
    "nft_counters": boolean,
    "conntrack": anything,
    "counters": anything,
    "nflog": anything,
}


def from_text(text: str, path: str = "<config>") -> Config:
    """Parse and validate a whole document; raise ConfigError listing every problem."""
    data, lines = loader.parse(text, path)
    r = Reader(path, lines)
    top = r.section(data, "", _TOP)
    kwargs: dict[str, Any] = {"path": path}
    for key in ("pollinterval", "netns", "nft_counters"):
        if key in top:
            kwargs[key] = top[key]
    if top.get("namespaces") is not None:
        kwargs["namespaces"] = namespaces.parse(r, top["namespaces"], top.get("netns"))
    if top.get("prometheus") is not None:
        prom = r.section(top["prometheus"], "prometheus", {"listen": _listen})
        if "listen" in prom:
            kwargs["listen"] = prom["listen"]
    if top.get("conntrack") is not None:
        kwargs["conntrack"] = conntrack.parse(r, top["conntrack"])
    if top.get("graphite") is not None:
        g = graphite.parse(r, top["graphite"])
        if g is not None:
            kwargs["graphite"] = g
    if top.get("labels") is not None:
        kwargs["labels"] = labels.parse(r, top["labels"])
    if top.get("counters") is not None:
        kwargs["counters"] = counters.parse(r, top["counters"])
    if top.get("nflog") is not None:
        kwargs["nflog"] = nflog.parse(r, top["nflog"])
    r.done()
    return Config(**kwargs)


def load(path: str | None) -> Config:
    """Read and validate ``path`` (None = all defaults)."""
    if path is None:
        return Config()
    return from_text(loader.read(path, "config file"), path)
