"""Names: dotted object names → Prometheus labels, Graphite path components, escaping.

Pure functions and small immutable rule objects; sinks cache their results per name, so none of
this runs per poll for a name already seen.

Label rules speak three dialects, first match wins:

* ``match: REGEX`` with named groups, e.g. ``^(?P<family>ipv[46])\\.(?P<app>[^.]+)$``;
* graphite_exporter/statsd_exporter style: ``match: ipv4.*`` (``match_type: glob``, the default
  when ``labels:`` is given; ``*`` is one dot-free part) or ``match_type: regex``, with
  ``labels: {family: ipv4, app: "$1"}`` templates (``$1``, ``${1}``, ``${name}``);
* positional: ``parts: [family, app]`` names the dot-separated parts of names with exactly that
  many parts (``null`` skips a part).

A rule's ``action`` (graphite_exporter's) is ``map`` (the default), ``drop`` (names it matches are
not exported) or ``keep`` (exported; once any rule keeps, names no rule matches are dropped).
``Selection`` decides per name, once.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Entries a sink's per-name cache (label text, Graphite paths) holds before it starts again:
# names come and go (nft counters, NFLOG prefixes of recreated namespaces) for the daemon's life.
# Every distinct name costs ~150-650 bytes across the caches, so this bounds them to tens of MiB;
# ten times the objects a host is expected to have, so live names never thrash them.
CACHE_MAX = 100_000
_TEMPLATE = re.compile(r"\$(?:(\d+)|\{(\w+)\})")


@dataclass(frozen=True)
class LabelRule:
    """One compiled rule: a regex and, per label, a template over its groups."""

    regex: re.Pattern[str]
    templates: tuple[tuple[str, str], ...]  # (label name, template)
    action: str = "map"  # map, keep or drop

    def apply(self, name: str) -> dict[str, str] | None:
        m = self.regex.search(name)
        if m is None:
            return None
        return {label: expand(tpl, m) for label, tpl in self.templates}


def expand(template: str, m: re.Match[str]) -> str:
    """``$1``/``${1}``/``${name}`` → the group's text (an unmatched group gives '')."""

    def sub(t: re.Match[str]) -> str:
        key = t.group(1) or t.group(2)
        return m.group(int(key) if key.isdigit() else key) or ""

    return _TEMPLATE.sub(sub, template)


def glob_to_regex(pattern: str) -> str:
    """statsd_exporter glob: ``*`` matches within one dot-separated part; anchored both ends."""
    return "^" + "([^.]*)".join(re.escape(p) for p in pattern.split("*")) + r"\Z"


def regex_rule(pattern: str) -> LabelRule:
    """``match: REGEX`` alone: every named group becomes a label."""
    rx = re.compile(pattern)
    return LabelRule(rx, tuple((g, "${" + g + "}") for g in rx.groupindex))


def template_rule(pattern: str, match_type: str, labels: Mapping[str, str]) -> LabelRule:
    """graphite_exporter style: glob or regex plus ``labels:`` templates."""
    rx = re.compile(glob_to_regex(pattern) if match_type == "glob" else pattern)
    return LabelRule(rx, tuple((k, str(v)) for k, v in labels.items()))


def parts_rule(parts: list[str | None]) -> LabelRule:
    """Positional: names with exactly ``len(parts)`` dot-separated parts, each part a label."""
    rx = re.compile(r"^" + r"\.".join([r"([^.]*)"] * len(parts)) + r"\Z")
    return LabelRule(rx, tuple((p, f"${i}") for i, p in enumerate(parts, 1) if p))


def template_errors(rule: LabelRule) -> list[str]:
    """References to groups the regex does not have (checked when the config loads)."""
    errors = []
    for label, tpl in rule.templates:
        for t in _TEMPLATE.finditer(tpl):
            key = t.group(1) or t.group(2)
            if key.isdigit():
                if int(key) > rule.regex.groups:
                    errors.append(f"label {label!r}: ${key} but the pattern has "
                                  f"{rule.regex.groups} group(s)")
            elif key not in rule.regex.groupindex:
                errors.append(f"label {label!r}: no group named {key!r}")
    return errors


def map_labels(rules: tuple[LabelRule, ...], name: str) -> dict[str, str]:
    """The first matching rule's labels (empty labels dropped); {} when none matches."""
    for rule in rules:
        labels = rule.apply(name)
        if labels is not None:
            return {k: v for k, v in labels.items() if v != ""}
    return {}


class Selection:
    """Whether a name is exported under the rules' ``drop``/``keep`` actions, decided once per
    name (a dict lookup per poll, no regex). ``active`` is False when every rule maps."""

    def __init__(self, rules: tuple[LabelRule, ...]) -> None:
        self.rules = rules
        self.active = any(r.action != "map" for r in rules)
        self._allowlist = any(r.action == "keep" for r in rules)
        self._exported: dict[str, bool] = {}

    def exported(self, name: str) -> bool:
        got = self._exported.get(name)
        if got is None:
            if len(self._exported) > CACHE_MAX:
                self._exported.clear()
            got = self._exported[name] = self._decide(name)
        return got

    def _decide(self, name: str) -> bool:
        for rule in self.rules:
            if rule.regex.search(name) is not None:
                return rule.action != "drop"
        return not self._allowlist


# --- Prometheus text exposition -------------------------------------------------------------

def label_value(value: str) -> str:
    """Escape for the text format: backslash, double quote and newline.

    Bytes that are not UTF-8 (kept as surrogate escapes) come out as the text ``\\xNN``: they
    are turned into that text first, then everything is escaped once (so the text format only
    ever sees ``\\\\``, ``\\"`` and ``\\n``, and a backslash of the name stays one backslash).
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def label_set(pairs: Mapping[str, str]) -> str:
    """``{a="x",b="y"}`` with escaped values, in the given order."""
    return "{" + ",".join(f'{k}="{label_value(v)}"' for k, v in pairs.items()) + "}"


# --- Graphite paths ----------------------------------------------------------------------------

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def graphite_component(text: str) -> str:
    """Escape one path component: keep ``[A-Za-z0-9_-]``, every other byte becomes ``%XX``.

    Reversible (``%`` itself is escaped), so two different names never share a path, and the
    result holds no whitespace, glob characters, dots or control bytes.
    """
    raw = text.encode("utf-8", "surrogateescape")
    if all(b in _SAFE for b in raw):
        return text
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in raw)


def graphite_name(name: str) -> str:
    """A dotted name → Graphite path: a dot between two non-empty parts stays a separator.

    ``ipv4.http`` stays ``ipv4.http`` (ulogd's path). Other dots (leading, trailing, doubled)
    would merge names in whisper's directory tree, so they become ``%2E``; decoding is: split on
    dots, unescape ``%XX``, join with dots.
    """
    parts = name.split(".")
    out = [graphite_component(parts[0])]
    for prev, part in zip(parts, parts[1:], strict=False):
        out.append("." if prev and part else "%2E")
        out.append(graphite_component(part))
    return "".join(out)


# --- graphite.prefix placeholders --------------------------------------------------------------

PREFIX_PLACEHOLDERS = ("hostname", "fqdn")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# Characters a literal prefix may not hold: they break the line protocol, tags (;), whisper's
# directory tree (/ \) or render-API targets (globs, function syntax, quotes).
PREFIX_FORBIDDEN = frozenset(" \t\r\n\v\f;/\\*?[]{}(),\"'")


def host_part(host: str) -> str:
    """A host name → one path part. Dots become ``_`` (collectd's convention: valid host names
    never hold ``_``, so nothing merges); any other byte outside ``[A-Za-z0-9_-]`` → ``%XX``."""
    return graphite_component(host.replace(".", "_")) if host else "unknown"


def prefix_errors(template: str) -> list[str]:
    """Problems of a ``graphite.prefix`` template (checked when the config loads)."""
    errors = []
    for m in _PLACEHOLDER.finditer(template):
        if m.group(1) not in PREFIX_PLACEHOLDERS:
            errors.append(f"unknown placeholder {m.group(0)} (known: "
                          + ", ".join("{" + p + "}" for p in PREFIX_PLACEHOLDERS) + ")")
    literal = _PLACEHOLDER.sub("x", template)
    bad = sorted({c for c in literal if c in PREFIX_FORBIDDEN or ord(c) < 32 or ord(c) == 127})
    if bad:
        errors.append("characters not allowed in a Graphite path: "
                      + " ".join(repr(c) for c in bad))
    if any(p == "" for p in literal.split(".")):
        errors.append("empty path part (leading, trailing or doubled dot)")
    if literal.startswith("~"):
        errors.append("a path may not start with '~' (Graphite tag values cannot)")
    return errors


def expand_prefix(template: str, hostname: str, fqdn: str) -> str:
    """``servers.{hostname}.nfacct`` → ``servers.web01.nfacct`` (each placeholder one part)."""
    values = {"hostname": host_part(hostname.split(".")[0]), "fqdn": host_part(fqdn)}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
