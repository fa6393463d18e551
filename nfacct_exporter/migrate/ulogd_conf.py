"""ulogd2's configuration file as ulogd reads it: ``[section]`` headers, ``key=value`` lines
(a value is a ``"quoted string"`` or the first word: ulogd ignores what follows, e.g. an inline
``# comment``), ``#`` comment lines, and the ``stack=`` and ``plugin=`` lines of ``[global]``,
which may repeat. A stack is ``instance:PLUGIN,...``, input first.
"""

import re
from dataclasses import dataclass, field

_SECTION = re.compile(r"^\[([^\]\s]+)\]$")
_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_ELEMENT = re.compile(r"^([A-Za-z0-9_-]+):([A-Za-z0-9_]+)$")


class BadConfig(Exception):
    """One line: why the file is not a ulogd configuration this command can read."""


@dataclass(frozen=True)
class Element:
    """One stack element: an instance name (its ``[section]``) and the plugin it runs."""

    instance: str
    plugin: str  # upper case, as ulogd names them: NFACCT, NFLOG, GRAPHITE, JSON, ...


@dataclass
class UlogdConf:
    path: str
    stacks: list[tuple[int, tuple[Element, ...]]] = field(default_factory=list)  # (line, stack)
    sections: dict[str, dict[str, str]] = field(default_factory=dict)
    lines: dict[tuple[str, str], int] = field(default_factory=dict)  # (section, key) → line

    def settings(self, instance: str) -> dict[str, str]:
        return self.sections.get(instance, {})


def _value(raw: str) -> str:
    raw = raw.strip()
    if raw.startswith('"'):
        end = raw.find('"', 1)
        if end < 0:
            raise ValueError("unterminated quoted value")
        return raw[1:end]
    return raw.split()[0] if raw.split() else ""


def parse(text: str, path: str) -> UlogdConf:
    """Read the whole file; raise BadConfig (file:line: what) at the first thing ulogd would
    refuse, or when no stack is declared."""
    conf = UlogdConf(path)
    section: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        m = _SECTION.match(line)
        if m:
            section = m.group(1)
            conf.sections.setdefault(section, {})
            continue
        m = _KEY.match(line)
        if not m:
            raise BadConfig(f"{where}: not a ulogd configuration line (expected [section] or "
                            f"key=value): {line[:60]!r}")
        if section is None:
            raise BadConfig(f"{where}: {m.group(1)}= before any [section]")
        try:
            value = _value(m.group(2))
        except ValueError as e:
            raise BadConfig(f"{where}: {e}") from None
        if section == "global" and m.group(1) == "stack":
            conf.stacks.append((number, _stack(value, where)))
        elif not (section == "global" and m.group(1) == "plugin"):
            conf.sections[section][m.group(1)] = value
            conf.lines[(section, m.group(1))] = number
    if not conf.stacks:
        raise BadConfig(f"{path}: no stack= line in [global]: nothing to migrate")
    return conf


def _stack(value: str, where: str) -> tuple[Element, ...]:
    elements = []
    for part in value.split(","):
        m = _ELEMENT.match(part.strip())
        if not m:
            raise BadConfig(f"{where}: stack element {part.strip()!r}: expected instance:PLUGIN")
        elements.append(Element(m.group(1), m.group(2).upper()))
    return tuple(elements)
