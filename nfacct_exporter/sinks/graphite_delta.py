"""Graphite ``mode: delta`` for NFACCT: per-poll increments of counters the kernel never resets,
against a baseline that follows namespaces (replaced: counted from 0; unreadable: kept)."""

from nfacct_exporter.snapshot import Reading, Snapshot

Values = tuple[list, list[int], list[int]]  # (names, packets, bytes) of one poll


def rebase(last: Values | None, instances: dict[str | None, object], snapshot: Snapshot,
           readings: list[Reading], now: Values
           ) -> tuple[Values | None, Values, dict[str | None, object]]:
    """(baseline to subtract now, baseline to keep for the next poll, namespace instances read
    for it), from the last baseline and the instances it was read from.

    A namespace replaced since its baseline was taken (another ``netns_instance``: see
    ``PolledSource``) holds new objects only: its baseline is dropped, they count from 0.
    A namespace that could not be read this poll keeps its baseline, so its next increment
    is not its whole counter.
    """
    now_ids = {r.netns: r.extra.get("netns_instance") for r in readings}
    failed = {r.netns for r in snapshot.all("nfacct") if not r.ok}
    if last is not None:
        gone = {ns for ns, i in now_ids.items() if instances.get(ns, i) != i}
        if gone or failed:
            of = [n[0] if isinstance(n, tuple) else None for n in last[0]]
            if gone:
                keep = [i for i, ns in enumerate(of) if ns not in gone]
                of = [of[i] for i in keep]
                last = ([last[0][i] for i in keep], [last[1][i] for i in keep],
                        [last[2][i] for i in keep])
            carry = [i for i, ns in enumerate(of) if ns in failed]
            if carry:
                now = (now[0] + [last[0][i] for i in carry],
                       now[1] + [last[1][i] for i in carry],
                       now[2] + [last[2][i] for i in carry])
    kept = {**{ns: instances[ns] for ns in failed if ns in instances}, **now_ids}
    return last, now, kept


def increase(last: Values, names: list, pkts: list[int], nbytes: list[int]
             ) -> tuple[list[int], list[int]]:
    """Per-object increments since ``last``; a new object counts from 0, a value that went down
    (reset by someone else) from 0 too."""
    last_names, last_pkts, last_bytes = last
    if last_names != names:  # align last poll's values with this poll's objects
        before = dict(zip(last_names, zip(last_pkts, last_bytes, strict=True), strict=True))
        last_pkts = [before.get(n, (0, 0))[0] for n in names]
        last_bytes = [before.get(n, (0, 0))[1] for n in names]
    return list(map(_step, pkts, last_pkts)), list(map(_step, nbytes, last_bytes))


def _step(now: int, before: int) -> int:
    return now - before if now >= before else now
