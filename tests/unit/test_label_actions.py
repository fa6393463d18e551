"""Label rules' ``action: drop`` / ``keep``: the config, the per-name decision and the sinks
(Prometheus and Graphite, NFACCT and nft names) leaving dropped names out."""

import pytest

from nfacct_exporter import config, naming, selection
from nfacct_exporter.config import GraphiteConfig
from nfacct_exporter.records import NfacctObject, NftCounter
from nfacct_exporter.sinks.graphite import NfacctLines
from nfacct_exporter.sinks.prometheus.nfacct import NfacctRenderer
from nfacct_exporter.sinks.prometheus.nft import NftRenderer
from nfacct_exporter.snapshot import Reading, Snapshot

DROP = """\
labels:
  - match: 'tmp.*'
    action: drop
  - match: '^(?P<family>ipv[46])\\.(?P<app>[^.]+)$'
"""
KEEP = """\
labels:
  - match: 'ipv4.*'
    action: keep
    labels: {family: ipv4, app: "$1"}
  - match: '^debug-'
    match_type: regex
    action: drop
  - match: '^(?P<kind>wan)-'
    action: keep
    match_type: regex
"""


def exported(text: str, names: list[str]) -> list[str]:
    sel = naming.Selection(config.from_text(text).labels)
    return [n for n in names if sel.exported(n)]


def test_drop_then_map() -> None:
    assert exported(DROP, ["tmp.x", "tmp.y.z", "ipv4.http", "other"]) == [
        "tmp.y.z", "ipv4.http", "other"]  # a glob's * is one part: tmp.y.z is not matched


def test_keep_is_an_allowlist() -> None:
    assert exported(KEEP, ["ipv4.http", "debug-x", "wan-1", "ipv6.http", "lan"]) == [
        "ipv4.http", "wan-1"]
    rules = config.from_text(KEEP).labels
    assert naming.map_labels(rules, "ipv4.http") == {"family": "ipv4", "app": "http"}
    assert naming.map_labels(rules, "wan-1") == {"kind": "wan"}


def test_only_map_rules_wrap_nothing() -> None:
    rules = config.from_text("labels:\n  - parts: [family, app]\n").labels
    render = NfacctRenderer(rules).render
    assert selection.renderer(rules, render) is render
    snap = Snapshot(1, 0.0, 0.0, {})
    assert selection.snapshots(rules)(snap) is snap


@pytest.mark.parametrize(("rule", "problem"), [
    ("  - match: x\n    action: drop\n    labels: {a: b}\n", "has no labels"),
    ("  - parts: [a]\n    action: keep\n", "needs 'match'"),
    ("  - match: x\n    action: delete\n", "expected one of"),
    ("  - match: '^(?P<__x>a)'\n    match_type: regex\n    action: keep\n", "bad label name"),
])
def test_bad_actions(rule: str, problem: str) -> None:
    with pytest.raises(config.ConfigError) as e:
        config.from_text("labels:\n" + rule)
    assert problem in str(e.value)


def test_sinks_leave_dropped_names_out() -> None:
    rules = config.from_text(DROP).labels
    nfacct = Reading("nfacct", True, 0.0, (NfacctObject("tmp.x", 1, 2),
                                           NfacctObject("ipv4.http", 3, 4)))
    nft = Reading("nft", True, 0.0, (NftCounter("inet", "f", "tmp.c", 1, 1),
                                     NftCounter("inet", "f", "keep", 2, 2)))
    text = b"".join(selection.renderer(rules, NfacctRenderer(rules).render)([nfacct])).decode()
    assert "tmp.x" not in text and 'name="ipv4.http",family="ipv4",app="http"} 3' in text
    text = selection.renderer(rules, NftRenderer(rules).render)([nft])
    assert "tmp.c" not in text and 'name="keep"} 2' in text
    snap = selection.snapshots(rules)(Snapshot(1, 1e9, 0.0, {"nfacct": nfacct, "nft": nft}))
    lines = NfacctLines(GraphiteConfig(host="x"), rules).chunk(snap).decode()
    assert "tmp" not in lines and "ipv4.http.pkts 3" in lines
