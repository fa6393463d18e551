"""The per-poll snapshot: what every source read at one instant, handed to every sink.

Built once per poll by the poller, immutable, never touched by sinks' threads afterwards; sinks
never call the kernel.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reading:
    """One source's result for one poll. A failed read has ``ok=False`` and no records."""

    source: str
    ok: bool
    duration: float
    records: tuple[Any, ...] = ()
    error: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    netns: str | None = None  # the netns label value; None when one namespace is read


@dataclass(frozen=True)
class Snapshot:
    """Every source's reading for poll number ``seq``, taken at wall-clock ``time``."""

    seq: int
    time: float
    duration: float
    readings: Mapping[str, Reading]

    def all(self, source: str) -> list[Reading]:
        """Every namespace's reading of ``source`` (keys ``source`` and ``source@netns``)."""
        return [r for r in self.readings.values() if r.source == source]
