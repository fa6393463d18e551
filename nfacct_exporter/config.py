"""YAML configuration → validated, typed, immutable ``Config``.

Every key is optional and unknown keys are errors. All problems are reported at once, each on one
line naming the file, the line and the key, so ``--check`` and the daemon refuse a bad file
before doing anything else.
"""

import re
import socket
from dataclasses import dataclass, field
from typing import Any

import yaml

from nfacct_exporter import counters as declared
from nfacct_exporter import namespaces, naming, nflog_config
from nfacct_exporter.checks import (
    MISSING,
    Invalid,
    Reader,
    boolean,
    choice,
    integer,
    number,
    string,
)

DEFAULT_PORT = 9849
DEFAULT_LISTEN = f":{DEFAULT_PORT}"


class ConfigError(Exception):
    """One or more configuration problems, one per line of the message."""


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


@dataclass(frozen=True)
class Config:
    path: str | None = None
    pollinterval: float = 10.0
    listen: str = DEFAULT_LISTEN
    netns: str | None = None
    namespaces: tuple[tuple[str, str], ...] = ()  # other namespaces read: (path, netns label)
    nft_counters: bool = False  # also read nftables named counters
    graphite: GraphiteConfig | None = None
    labels: tuple[naming.LabelRule, ...] = field(default_factory=tuple)
    counters: tuple[declared.Counter, ...] = ()  # declared objects (counters create / rules)
    nflog: tuple[nflog_config.NflogGroup, ...] = ()  # NFLOG groups to count (none: no source)


# --- YAML with line numbers ----------------------------------------------------------------------

class _Loc:
    """Remembers the line of every key so errors can point at it."""

    def __init__(self) -> None:
        self.lines: dict[str, int] = {}

    def build(self, node: yaml.Node, path: str, loader: yaml.SafeLoader) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for knode, vnode in node.value:
                key = loader.construct_object(knode)
                sub = f"{path}.{key}" if path else str(key)
                if key in out:
                    raise ConfigError(f"{knode.start_mark.line + 1}: key {sub!r}: duplicate key")
                self.lines[sub] = knode.start_mark.line + 1
                out[key] = self.build(vnode, sub, loader)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, f"{path}[{i}]", loader) for i, v in enumerate(node.value)]
        return loader.construct_object(node, deep=True)


def _parse_yaml(text: str) -> tuple[Any, dict[str, int]]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f"{mark.line + 1}: " if mark else ""
        raise ConfigError(f"{line}YAML syntax error: {e.problem or e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"YAML error: {e}") from None
    finally:
        loader.dispose()
    loc = _Loc()
    if node is None:
        return {}, loc.lines
    return loc.build(node, "", yaml.SafeLoader("")), loc.lines


# --- value checks (shared ones live in checks.py) ----------------------------------------

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


# --- sections ------------------------------------------------------------------------------------



def _label_rules(r: Reader, data: Any) -> tuple[naming.LabelRule, ...]:
    if not isinstance(data, list):
        r.error("labels", data, "expected a list of rules")
        return ()
    rules = []
    spec = {"match": string, "match_type": choice("glob", "regex"), "labels": lambda v: v,
            "parts": lambda v: v}
    for i, item in enumerate(data):
        key = f"labels[{i}]"
        got = r.section(item, key, spec)
        try:
            rules.append(_label_rule(got))
        except Invalid as e:
            r.error(key, MISSING, str(e))
        except re.error as e:
            r.error(f"{key}.match", got.get("match"), f"bad regular expression: {e}")
    return tuple(rules)


_RESERVED = {"name": "the exact object name", "netns": "the network namespace"}


def _label_names(names: list[Any]) -> None:
    for n in names:
        if not isinstance(n, str) or not naming.LABEL_NAME.match(n) or n.startswith("__"):
            raise Invalid(f"bad label name {n!r} (expected [a-zA-Z_][a-zA-Z0-9_]*, no __)")
        if n in _RESERVED:
            raise Invalid(f"label {n!r} is reserved for {_RESERVED[n]}")


def _label_rule(got: dict) -> naming.LabelRule:
    if "parts" in got:
        if set(got) != {"parts"}:
            raise Invalid("'parts' stands alone (no match, match_type or labels)")
        parts = got["parts"]
        if not isinstance(parts, list) or not parts:
            raise Invalid("'parts' must be a non-empty list of label names or null")
        names = [p for p in parts if p is not None]
        _label_names(names)
        if len(set(names)) != len(names):
            raise Invalid("'parts' names a label twice")
        return naming.parts_rule(parts)
    if "match" not in got:
        raise Invalid("a rule needs 'match' (or 'parts')")
    if "labels" not in got:
        if got.get("match_type", "regex") != "regex":
            raise Invalid("a glob rule needs 'labels'")
        rule = naming.regex_rule(got["match"])
        if not rule.templates:
            raise Invalid("the regex has no named groups (?P<label>...) and no 'labels' given")
    else:
        labels = got["labels"]
        if not isinstance(labels, dict) or not labels:
            raise Invalid("'labels' must be a mapping of label name to template")
        if not all(isinstance(v, (str, int)) for v in labels.values()):
            raise Invalid("'labels' values must be strings")
        rule = naming.template_rule(got["match"], got.get("match_type", "glob"), labels)
    _label_names([k for k, _ in rule.templates])
    problems = naming.template_errors(rule)
    if problems:
        raise Invalid("; ".join(problems))
    return rule


def _distinct_prefixes(r: Reader, g: GraphiteConfig) -> None:
    """NFACCT, NFLOG and nft paths must live in separate subtrees, or an object named like an
    nft counter (``inet.filter.http``) would write the same whisper file."""
    named = {"prefix": g.prefix, "nflog_prefix": g.nflog_prefix, "nft_prefix": g.nft_prefix}
    items = list(named.items())
    for i, (a, pa) in enumerate(items):
        for b, pb in items[i + 1:]:
            if (pa == pb or pa.startswith(pb + ".") or pb.startswith(pa + ".")):
                r.error(f"graphite.{b}", pb, f"overlaps graphite.{a} ({pa!r}): the paths of "
                        "NFACCT, NFLOG and nft counters must not share a subtree")


def from_text(text: str, path: str = "<config>") -> Config:
    """Parse and validate a whole document; raise ConfigError listing every problem."""
    try:
        data, lines = _parse_yaml(text)
    except ConfigError as e:
        raise ConfigError(f"{path}:{e}") from None
    r = Reader(path, lines)
    top = r.section(data, "", {
        "pollinterval": number(0.0),
        "prometheus": lambda v: v,
        "graphite": lambda v: v,
        "labels": lambda v: v,
        "netns": string,
        "namespaces": lambda v: v,
        "nft_counters": boolean,
        "counters": lambda v: v,
        "nflog": lambda v: v,
    })
    kwargs: dict[str, Any] = {"path": path}
    if "pollinterval" in top:
        kwargs["pollinterval"] = top["pollinterval"]
    if "netns" in top:
        kwargs["netns"] = top["netns"]
    if top.get("namespaces") is not None:
        kwargs["namespaces"] = namespaces.parse(r, top["namespaces"], top.get("netns"))
    if "nft_counters" in top:
        kwargs["nft_counters"] = top["nft_counters"]
    if top.get("prometheus") is not None:
        prom = r.section(top["prometheus"], "prometheus", {"listen": _listen})
        if "listen" in prom:
            kwargs["listen"] = prom["listen"]
    if top.get("graphite") is not None:
        g = r.section(top["graphite"], "graphite", {
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
        })
        if "host" not in g and "host" not in top["graphite"]:
            r.error("graphite", MISSING, "'host' is required when graphite is configured")
        elif "host" in g:
            kwargs["graphite"] = GraphiteConfig(**g)
            _distinct_prefixes(r, kwargs["graphite"])
    if top.get("labels") is not None:
        kwargs["labels"] = _label_rules(r, top["labels"])
    if top.get("counters") is not None:
        kwargs["counters"] = declared.parse(r, top["counters"])
    if top.get("nflog") is not None:
        kwargs["nflog"] = nflog_config.parse(r, top["nflog"])
    if r.errors:
        raise ConfigError("\n".join(r.errors))
    return Config(**kwargs)


def load(path: str | None) -> Config:
    """Read and validate ``path`` (None = all defaults)."""
    if path is None:
        return Config()
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ConfigError(f"{path}: cannot read the config file: {reason}") from None
    return from_text(text, path)
