"""The one error collector: value checkers and the reader that reports each problem on one line
naming the file, the line and the key. Every section parser (core, graphite, counters, nflog,
namespaces, web, ...) raises ``Invalid`` from its checkers and reports through one ``Reader``."""

from collections.abc import Callable
from typing import Any

MISSING = object()  # "no value to show" in an error line


class ConfigError(Exception):
    """One or more configuration problems, one per line of the message."""


class Invalid(Exception):
    """A value is wrong; the reader turns it into one line naming file, line and key."""


def anything(v: Any) -> Any:
    """Any value: the section's own parser checks it further."""
    return v


def number(lo: float = 0.0) -> Callable[[Any], float]:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > lo or v != v:
            raise Invalid(f"expected a number > {lo:g}")
        return float(v)

    return check


def integer(lo: int, hi: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise Invalid(f"expected an integer {lo}..{hi}")
        return v

    return check


def string(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise Invalid("expected a non-empty string")
    return v


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise Invalid("expected true or false")
    return v


def choice(*options: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if v not in options:
            raise Invalid("expected one of " + ", ".join(options))
        return v

    return check


class Reader:
    """Walks the parsed document, collecting one error line per problem."""

    def __init__(self, path: str, lines: dict[str, int]) -> None:
        self.path = path
        self.lines = lines
        self.errors: list[str] = []

    def error(self, key: str, value: Any, msg: str) -> None:
        line = self.lines.get(key)
        where = f"{self.path}:{line}" if line else self.path
        shown = "" if value is MISSING else f" = {value!r}"
        self.errors.append(f"{where}: key {key!r}{shown}: {msg}")

    def section(self, data: Any, key: str, spec: dict[str, Callable[[Any], Any]],
                refused: dict[str, str] | None = None) -> dict:
        """Check a mapping against ``spec`` (key → checker); returns only the valid keys.

        ``refused`` maps full keys that are understood but not supported to the reason given."""
        if not isinstance(data, dict):
            self.error(key or "(top level)", data, "expected a mapping")
            return {}
        out = {}
        for k, v in data.items():
            sub = f"{key}.{k}" if key else str(k)
            check = spec.get(k) if isinstance(k, str) else None
            if refused and sub in refused:
                self.error(sub, MISSING, refused[sub])
                continue
            if check is None:
                self.error(sub, MISSING, "unknown key (known: " + ", ".join(spec) + ")")
                continue
            try:
                out[k] = check(v)
            except Invalid as e:
                self.error(sub, v, str(e))
        return out

    def done(self) -> None:
        """Raise ConfigError listing every problem found, if any."""
        if self.errors:
            raise ConfigError("\n".join(self.errors))
