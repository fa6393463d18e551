"""The label rules' ``drop``/``keep`` actions applied before the sinks: NFACCT objects and nft
named counters that are not exported never reach a renderer or a Graphite line.

Each sink gets its own ``naming.Selection`` (its cache is per name, filled on first sight), and
without drop/keep rules nothing is wrapped at all, so the usual path costs nothing.
"""

import dataclasses
from collections.abc import Callable
from typing import TypeVar

from nfacct_exporter import naming
from nfacct_exporter.snapshot import Reading, Snapshot

SOURCES = ("nfacct", "nft")  # the sources whose records are named by the label rules
T = TypeVar("T")


def _reading(sel: naming.Selection, r: Reading) -> Reading:
    if r.source not in SOURCES or not r.records:
        return r
    kept = tuple(o for o in r.records if sel.exported(o.name))
    return r if len(kept) == len(r.records) else dataclasses.replace(r, records=kept)


def renderer(rules: tuple[naming.LabelRule, ...],
             render: Callable[[list[Reading]], T]) -> Callable[[list[Reading]], T]:
    """``render`` seeing only the readings' exported records."""
    sel = naming.Selection(rules)
    if not sel.active:
        return render
    return lambda readings: render([_reading(sel, r) for r in readings])


def snapshots(rules: tuple[naming.LabelRule, ...]) -> Callable[[Snapshot], Snapshot]:
    """A filter of whole snapshots (for the Graphite lines), the identity without drop/keep."""
    sel = naming.Selection(rules)
    if not sel.active:
        return lambda snap: snap
    return lambda snap: dataclasses.replace(
        snap, readings={k: _reading(sel, r) for k, r in snap.readings.items()})
