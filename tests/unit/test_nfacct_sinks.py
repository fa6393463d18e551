"""NFACCT → Prometheus text and Graphite lines: the template renderers against a plain
line-by-line rendering, across polls where names come, go and reorder, and for hostile names
(``%`` included: it is literal text inside a ``%`` template)."""

import gzip
import random

import pytest
from prometheus_client import CollectorRegistry

from nfacct_exporter import naming
from nfacct_exporter.config import GraphiteConfig
from nfacct_exporter.records import NfacctObject
from nfacct_exporter.sinks.graphite import NfacctLines
from nfacct_exporter.sinks.prometheus.exposition import PrometheusSink
from nfacct_exporter.sinks.prometheus.nfacct import NfacctRenderer
from nfacct_exporter.snapshot import Reading, Snapshot
from tests.support.exposition import parse_exposition

RULES = (naming.regex_rule(r"^(?P<family>ipv[46])\.(?P<app>[^.]+)$"),)
NAMES = ["ipv4.http", "ipv6.http", "web server", 'q"uote', "back\\slash", "new\nline", "50%",
         "%d%s%%", ".lead", "a..b", "ünï.cødé", "bad\udcff", "ipv4.%(x)s", "cr\rlf",
         "x\n# HELP nfacct_bytes_total y", "# TYPE nfacct_packets_total counter"]


def polls(n: int, seed: int = 1) -> list[tuple[NfacctObject, ...]]:
    """Random polls: a subset of NAMES in random order, counters that mostly grow, some resets."""
    rng = random.Random(seed)
    values = {name: [0, 0] for name in NAMES}
    out = []
    for _ in range(n):
        names = [x for x in NAMES if rng.random() < 0.8]
        if rng.random() < 0.3:
            rng.shuffle(names)
        for x in names:
            v = values[x]
            if rng.random() < 0.1:
                v[:] = [rng.randrange(3), rng.randrange(100)]  # reset by someone else
            else:
                v[0] += rng.randrange(3)
                v[1] += rng.randrange(2**40)
        out.append(tuple(NfacctObject(x, *values[x], rules=len(x) % 3) for x in names))
    return out


def snapshot(records: tuple[NfacctObject, ...], seq: int) -> Snapshot:
    return Snapshot(seq, 1_800_000_000.7 + seq, 0.0,
                    {"nfacct": Reading("nfacct", True, 0.0, records)})


def plain_exposition(records: tuple[NfacctObject, ...]) -> dict:
    out = {}
    for o in records:
        labels = frozenset({"name": o.name, **naming.map_labels(RULES, o.name)}.items())
        out[("nfacct_packets_total", labels)] = float(o.packets)
        out[("nfacct_bytes_total", labels)] = float(o.bytes)
        out[("nfacct_rule_references", labels)] = float(o.rules)
    return out


def test_prometheus_text_equals_the_values_of_each_poll() -> None:
    r = NfacctRenderer(RULES)
    for records in polls(40):
        body = b"".join(r.render([Reading("nfacct", True, 0.0, records)]))
        text = body.decode("utf-8")  # bytes that are not UTF-8 are text (\xNN), not raw bytes
        assert text.count("\n# TYPE ") == 3 and text.endswith("\n")
        expect = plain_exposition(records)
        for metric, labels in list(expect):  # the name that is not UTF-8, as it is rendered
            name = dict(labels)["name"]
            if name.endswith("\udcff"):
                shown = labels - {("name", name)} | {("name", name[:-1] + "\\xff")}
                expect[(metric, shown)] = expect.pop((metric, labels))
        assert parse_exposition(text) == expect


def test_prometheus_sink_joins_bytes_and_text_renderers() -> None:
    records = polls(1)[0]
    calls = []

    def other(r: Reading) -> str:
        calls.append(r)
        return "# TYPE other gauge\nother 1\n"

    sink = PrometheusSink({"nfacct": NfacctRenderer(RULES).render, "other": other},
                          CollectorRegistry())
    sink.publish(Snapshot(1, 0.0, 0.0, {"nfacct": Reading("nfacct", True, 0.0, records),
                                        "other": Reading("other", True, 0.0)}))
    assert calls == []  # nothing is rendered until a scrape wants it
    body = sink.exposition()
    assert body.endswith(b"\n# TYPE other gauge\nother 1\n")
    assert body.startswith(b"# HELP nfacct_packets_total ")
    assert sink.exposition() == body and gzip.decompress(sink.exposition(gzipped=True)) == body
    assert len(calls) == 1  # once per poll, however many scrapes


def test_prometheus_sink_serves_the_other_families_when_a_renderer_fails() -> None:
    def broken(r: Reading) -> str:
        raise ValueError("bug")

    sink = PrometheusSink({"broken": broken, "nfacct": NfacctRenderer(RULES).render},
                          CollectorRegistry())
    sink.publish(Snapshot(1, 0.0, 0.0, {"broken": Reading("broken", True, 0.0),
                                        "nfacct": Reading("nfacct", True, 0.0, polls(1)[0])}))
    assert sink.exposition().startswith(b"# HELP nfacct_packets_total ")


def plain_lines(records: tuple[NfacctObject, ...], values: list[tuple[int, int]], ts: int,
                prefix: str, tags: bool) -> list[str]:
    out = []
    for o, (p, b) in zip(records, values, strict=True):
        suffix = ""
        if tags:
            labels = naming.map_labels(RULES, o.name)
            suffix = "".join(f";{k}={naming.graphite_component(v)}"
                             for k, v in sorted(labels.items()))
        path = f"{prefix}.{naming.graphite_name(o.name)}"
        out += [f"{path}.pkts{suffix} {p} {ts}\n", f"{path}.bytes{suffix} {b} {ts}\n"]
    return out


@pytest.mark.parametrize("mode", ["total", "delta"])
@pytest.mark.parametrize("tags", [False, True])
def test_graphite_lines_equal_a_line_by_line_rendering(mode: str, tags: bool) -> None:
    prefix = "net%d.nf%s"  # a prefix with % must stay literal too
    lines = NfacctLines(GraphiteConfig(host="h", prefix=prefix, mode=mode, tags=tags), RULES)
    last: dict[str, tuple[int, int]] | None = None
    for seq, records in enumerate(polls(40, seed=2)):
        snap = snapshot(records, seq)
        got = lines.chunk(snap).decode("ascii").splitlines(keepends=True)
        now = {o.name: (o.packets, o.bytes) for o in records}
        if mode == "total":
            values = [now[o.name] for o in records]
        elif last is None:
            assert got == []  # the first poll of delta mode only records a baseline
            last = now
            continue
        else:
            values = []
            for o in records:
                lp, lb = last.get(o.name, (0, 0))
                values.append((o.packets - lp if o.packets >= lp else o.packets,
                               o.bytes - lb if o.bytes >= lb else o.bytes))
        last = now
        assert got == plain_lines(records, values, int(snap.time), prefix, tags)


def test_graphite_without_a_good_reading_sends_nothing() -> None:
    lines = NfacctLines(GraphiteConfig(host="h"), RULES)
    bad = Snapshot(1, 0.0, 0.0, {"nfacct": Reading("nfacct", False, 0.0, error="EPERM")})
    assert lines.chunk(bad) == b""
    assert lines.chunk(Snapshot(1, 0.0, 0.0, {})) == b""
    assert lines.chunk(snapshot((), 1)) == b""


def test_template_rebuilt_from_its_own_labels_equals_a_fresh_one() -> None:
    """Names read back from the last template (the only per-name cache) give the same bytes as
    names mapped through the rules afresh, in one namespace or several."""
    kept = NfacctRenderer(RULES)
    for i, records in enumerate(polls(40, seed=3)):
        readings = [Reading("nfacct", True, 0.0, records)] if i % 2 else [
            Reading("nfacct", True, 0.0, records[:3], netns="a"),
            Reading("nfacct", True, 0.0, records[3:], netns="b")]
        assert kept.render(readings) == NfacctRenderer(RULES).render(readings)
    assert kept._labels == {}  # no quota objects: no per-name cache besides the template


def test_graphite_reused_blocks_equal_a_fresh_rendering() -> None:
    """Polls that keep most records (the very objects, as the dumper does), change a few, add a
    quota object, rename one and cross a timestamp with more digits: each poll's text equals
    what a new NfacctLines (nothing reused) makes of it."""
    rng = random.Random(3)
    records = [NfacctObject(f"ipv4.o{i}%d", i, 2 * i) for i in range(1000)]  # 8 blocks
    lines = NfacctLines(GraphiteConfig(host="h", prefix="p%s"), RULES)
    for seq in range(12):
        for i in rng.sample(range(len(records)), rng.choice([0, 1, 5, 300])):
            o = records[i]
            records[i] = o._replace(packets=o.packets + 1, bytes=o.bytes + rng.randrange(9))
        if seq == 4:
            records[500] = NfacctObject("month", 7, 8, 2, 100, "bytes", True)
        if seq == 7:
            records[3] = NfacctObject("renamed", 1, 1)
        snap = Snapshot(seq, 9_999_999_995.5 + seq, 0.0,  # 10 digits, then 11
                        {"nfacct": Reading("nfacct", True, 0.0, tuple(records))})
        got = lines.chunk(snap)
        assert got == NfacctLines(GraphiteConfig(host="h", prefix="p%s"), RULES).chunk(snap)
        assert got.count(b"\n") == 2 * len(records) + (2 if seq >= 4 else 0)
        assert lines.lines == got.count(b"\n")  # what the sender counts as sent
        assert (b"p%s.month.quota 100 " in got) == (seq >= 4)
