"""The one text-format helper every renderer uses."""

from collections.abc import Iterable


def family(metric: str, kind: str, help_text: str, rows: Iterable[str]) -> str:
    """One metric family: HELP, TYPE and its sample lines (already formatted)."""
    return f"# HELP {metric} {help_text}\n# TYPE {metric} {kind}\n" + "".join(rows)
