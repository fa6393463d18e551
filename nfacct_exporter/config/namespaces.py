"""Which network namespaces the daemon reads, and the ``netns`` label each one carries.

NFACCT objects, NFLOG groups and nft counters are per namespace. The daemon always reads one
primary namespace (its own, or the one ``netns:`` names) and, from the ``namespaces:`` list, any
others. With more than one, every series carries ``netns`` (the primary is ``self`` when it is
the daemon's own) and every Graphite path a namespace part; with one, nothing changes.
"""

from dataclasses import dataclass
from typing import Any

from nfacct_exporter.config.checks import Reader, string

SELF = "self"


@dataclass(frozen=True)
class Namespace:
    path: str | None  # ``ip netns`` name or a path such as /proc/PID/ns/net; None = our own
    label: str | None  # the netns label value; None when only one namespace is read


def parse(reader: Reader, data: Any, primary: str | None = None) -> tuple[tuple[str, str], ...]:
    """``namespaces:`` → ((path, label), ...); entries are a name/path or {path, label}.

    ``primary`` is the ``netns:`` key: its label is that text, so no other entry may take it."""
    if not isinstance(data, list):
        reader.error("namespaces", data, "expected a list of namespace names or paths")
        return ()
    out: list[tuple[str, str]] = []
    for i, item in enumerate(data):
        key = f"namespaces[{i}]"
        if isinstance(item, dict):
            got = reader.section(item, key, {"path": string, "label": string})
            if "path" not in got:
                if "path" not in item:
                    reader.error(key, item, "a mapping entry needs 'path' (and optional 'label')")
                continue
            path, label = got["path"], got.get("label", got["path"])
        elif isinstance(item, str) and item:
            path = label = item
        else:
            reader.error(key, item, "expected a namespace name, a path, or {path, label}")
            continue
        if label == SELF:
            reader.error(key, item, f"label {SELF!r} means the daemon's own namespace; "
                         "give this one another label (or its path)")
        elif label in (lbl for _, lbl in out) or path in (p for p, _ in out):
            reader.error(key, item, "namespace listed twice")
        elif label == primary and path != primary:
            reader.error(key, item, f"label {label!r} is the label of the 'netns' namespace; "
                         "give this one another label")
        else:
            out.append((path, label))
    return tuple(out)


def plan(primary: str | None, others: tuple[tuple[str, str], ...]) -> list[Namespace]:
    """The primary namespace first (its failures are fatal at start-up), then the others."""
    if not others:
        return [Namespace(primary, None)]
    return [Namespace(primary, primary or SELF)] + [Namespace(p, lbl) for p, lbl in others
                                                     if p != primary]
