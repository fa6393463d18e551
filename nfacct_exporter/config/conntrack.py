"""The ``conntrack:`` key: read the kernel's conntrack statistics in every namespace read.

``conntrack: true`` exports them summed over CPUs; ``conntrack: {per_cpu: true}`` with a ``cpu``
label (Prometheus) or a ``cpu<N>`` path part (Graphite) instead.
"""

from dataclasses import dataclass
from typing import Any

from nfacct_exporter.config.checks import Reader, boolean


@dataclass(frozen=True)
class ConntrackConfig:
    per_cpu: bool = False


def parse(r: Reader, data: Any) -> ConntrackConfig | None:
    """``true``/``false`` or a mapping → ConntrackConfig (None: not read)."""
    if isinstance(data, bool):
        return ConntrackConfig() if data else None
    if not isinstance(data, dict):
        r.error("conntrack", data, "expected true, false or a mapping {per_cpu: BOOL}")
        return None
    return ConntrackConfig(**r.section(data, "conntrack", {"per_cpu": boolean}))
