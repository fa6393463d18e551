"""The ``nflog:`` config section: which NFLOG groups to count, and how, as immutable objects.

Shape::

    nflog:
      - group: 2                  # 0..65535, each group at most once
        verdict: drop             # accept | drop | reject | log (default: log = only logged)
        prefix_verdicts:          # optional: first regex found in the prefix gives the verdict
          - {match: '^SSH', verdict: accept}
        max_prefixes: 256         # distinct prefixes tracked; the rest share one overflow series
        rcvbuf: 8388608           # socket receive buffer, bytes (SO_RCVBUFFORCE)
        qthreshold: 1024          # kernel batch: flush after this many packets ...
        qtimeout: 0.1             # ... or after this many seconds (0.01 steps)
        events:                   # optional: each packet as one JSON line (config/events.py)
          file: /var/log/nfacct-exporter/nflog.json
"""

import re
from dataclasses import dataclass
from typing import Any

from nfacct_exporter.config.checks import MISSING, Invalid, Reader, anything, choice, integer
from nfacct_exporter.config.events import Events, parse_events

VERDICTS = ("accept", "drop", "reject", "log")


@dataclass(frozen=True)
class NflogGroup:
    """One NFLOG group to bind and count."""

    group: int
    verdict: str = "log"
    prefix_verdicts: tuple[tuple[re.Pattern[str], str], ...] = ()
    max_prefixes: int = 256
    rcvbuf: int = 8 * 1024 * 1024  # ~120k queued packets (measured) while the listener is busy
    qthreshold: int = 1024  # in practice batches end earlier, when 63 KiB are full
    qtimeout: float = 0.1
    events: Events | None = None  # packet events (headers copied); None: counting only


_verdict = choice(*VERDICTS)


def _qtimeout(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.01 <= v <= 600:
        raise Invalid("expected seconds 0.01..600 (the kernel counts hundredths)")
    return float(v)


def _regex(v: Any) -> re.Pattern[str]:
    if not isinstance(v, str):
        raise Invalid("expected a regular expression (a string)")
    try:
        return re.compile(v)
    except re.error as e:
        raise Invalid(f"bad regular expression: {e}") from None


_SPEC = {
    "group": integer(0, 65535),
    "verdict": _verdict,
    "prefix_verdicts": anything,
    "max_prefixes": integer(1, 100_000),
    "rcvbuf": integer(4096, 1 << 30),
    "qthreshold": integer(1, 1_000_000),
    "qtimeout": _qtimeout,
    "events": anything,
}


def parse(r: Reader, data: Any) -> tuple[NflogGroup, ...]:
    """The ``nflog:`` list → NflogGroups, reporting every problem through ``r``."""
    if not isinstance(data, list):
        r.error("nflog", data, "expected a list of {group: N, verdict: ...} mappings")
        return ()
    out: list[NflogGroup] = []
    seen: dict[int, str] = {}
    for i, item in enumerate(data):
        key = f"nflog[{i}]"
        got = r.section(item, key, _SPEC)
        if isinstance(item, dict) and "group" not in item:
            r.error(key, MISSING, "each entry needs 'group' (0..65535)")
        if "group" not in got:
            continue
        if got["group"] in seen:
            r.error(f"{key}.group", got["group"], f"already configured in {seen[got['group']]}")
            continue
        seen[got["group"]] = key
        overrides = _overrides(r, got.pop("prefix_verdicts", None), f"{key}.prefix_verdicts")
        if "events" in got:
            got["events"] = parse_events(r, got["events"], f"{key}.events")
        out.append(NflogGroup(prefix_verdicts=overrides, **got))
    return tuple(out)


def _overrides(r: Reader, raw: Any, key: str
               ) -> tuple[tuple[re.Pattern[str], str], ...]:
    """``[{match: REGEX, verdict: V}, ...]`` → ((compiled, V), ...), in order."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        r.error(key, raw, "expected a list of {match: REGEX, verdict: ...}")
        return ()
    out = []
    for j, item in enumerate(raw):
        got = r.section(item, f"{key}[{j}]", {"match": _regex, "verdict": _verdict})
        if isinstance(item, dict) and not {"match", "verdict"} <= set(item):
            r.error(f"{key}[{j}]", MISSING, "needs both 'match' and 'verdict'")
        elif len(got) == 2:
            out.append((got["match"], got["verdict"]))
    return tuple(out)
