"""Graphite lines: byte-identical to graphyte's format for plain names, delta mode never negative
or huge across resets, tags valid by carbon's own rules, prefix placeholders."""

import re

import graphyte
import pytest

from nfacct_exporter import config, naming
from nfacct_exporter.config import graphite
from nfacct_exporter.records import NfacctObject
from nfacct_exporter.sinks.graphite import NfacctLines
from nfacct_exporter.snapshot import Reading, Snapshot


def snap(t: float, objs: dict[str, tuple[int, int]], ok: bool = True) -> Snapshot:
    recs = tuple(NfacctObject(n, p, b) for n, (p, b) in objs.items())
    return Snapshot(1, t, 0.0, {"nfacct": Reading("nfacct", ok, 0.0, recs if ok else ())})


def lines_of(cfg_text: str, *snaps: Snapshot) -> list[list[str]]:
    cfg = config.from_text(cfg_text)
    assert cfg.graphite is not None
    sink = NfacctLines(cfg.graphite, cfg.labels)
    out = []
    for s in snaps:
        text = sink.chunk(s)
        assert sink.lines == text.count(b"\n")  # what the sender counts as sent
        out.append(text.decode().splitlines())
    return out


def test_total_mode_is_graphytes_format_for_plain_names() -> None:
    (got,) = lines_of("graphite: {host: h}", snap(1795778790.7, {"ipv4.http": (19, 1381)}))
    ref = graphyte.Sender("h", prefix="netfilter.nfacct")
    want = [ref.build_message("ipv4.http.pkts", 19, 1795778790).decode().strip(),
            ref.build_message("ipv4.http.bytes", 1381, 1795778790).decode().strip()]
    assert got == want  # and ulogd's: netfilter.nfacct.ipv4.http.pkts 19 1795778790


def values(lines: list[str]) -> dict[str, int]:
    return {line.split()[0]: int(line.split()[1]) for line in lines}


def test_delta_mode_is_never_negative_or_huge() -> None:
    big = 2**63
    polls = lines_of(
        "graphite: {host: h, mode: delta}",
        snap(1, {"a": (10, 100), "b": (big, big)}),  # baseline only
        snap(2, {"a": (15, 150), "b": (big + 1, big + 9)}),
        snap(3, {"a": (15, 150)}, ok=False),  # a failed poll keeps the baseline
        snap(4, {"a": (3, 30), "b": (big + 2, big + 9), "c": (7, 70)}),  # a reset, c new
        snap(5, {"a": (4, 40), "c": (7, 70)}),  # b deleted
        snap(6, {"a": (4, 40), "b": (5, 50), "c": (7, 70)}),  # b recreated
    )
    assert polls[0] == [] and polls[2] == []
    assert values(polls[1]) == {"netfilter.nfacct.a.pkts": 5, "netfilter.nfacct.a.bytes": 50,
                                "netfilter.nfacct.b.pkts": 1, "netfilter.nfacct.b.bytes": 9}
    assert values(polls[3])["netfilter.nfacct.a.pkts"] == 3  # counted from zero after a reset
    assert values(polls[3])["netfilter.nfacct.c.bytes"] == 70
    assert values(polls[4]) == {"netfilter.nfacct.a.pkts": 1, "netfilter.nfacct.a.bytes": 10,
                                "netfilter.nfacct.c.pkts": 0, "netfilter.nfacct.c.bytes": 0}
    assert values(polls[5])["netfilter.nfacct.b.bytes"] == 50
    for p in polls:
        assert all(0 <= v <= 100 for v in values(p).values())


def carbon_tag_problems(path: str) -> list[str]:
    """carbon 1.1's TaggedSeries.parse_carbon / validateTagAndValue rules (Debian 1.1.7)."""
    name, *segments = path.split(";")
    problems = [] if name and not name.startswith("~") else [f"bad name {name!r}"]
    for seg in segments:
        tag, eq, value = seg.partition("=")
        if not eq or not tag or not value or any(c in tag for c in ";!^= ") \
                or " " in value or value.startswith("~"):
            problems.append(seg)
    return problems


@pytest.mark.parametrize("name", ["ipv4.http", "ipv6.~x;y=z", "ipv4.a b\tc", "ipv4.!^=é",
                                  "ipv4.~"])
def test_tags_carry_mapped_labels_and_are_valid_for_carbon(name: str) -> None:
    (got,) = lines_of("graphite: {host: h, tags: true}\nlabels:\n"
                      "  - match: '^(?P<family>ipv[46])\\.(?P<app>.+)$'\n", snap(5, {name: (1, 2)}))
    for line in got:
        path, value, ts = line.split(" ")
        assert carbon_tag_problems(path) == [] and value in ("1", "2") and ts == "5"
        tags = dict(seg.split("=", 1) for seg in path.split(";")[1:])
        assert tags["family"] == name[:4]
        assert naming.graphite_component(name[5:]) == tags["app"]
        assert re.fullmatch(r"[A-Za-z0-9_%-]+", tags["app"])


def test_prefix_placeholders_expand_to_one_escaped_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graphite.socket, "gethostname", lambda: "web01.example.com")
    monkeypatch.setattr(graphite.socket, "getfqdn", lambda: "web01.example.com")
    cfg = config.from_text("graphite: {host: h, prefix: 'servers.{hostname}.{fqdn}.nfacct'}")
    assert cfg.graphite is not None
    assert cfg.graphite.prefix == "servers.web01.web01_example_com.nfacct"
    assert naming.expand_prefix("a.{hostname}", "wéird host", "") == "a.w%C3%A9ird%20host"
    assert naming.expand_prefix("a.{hostname}", "", "") == "a.unknown"


@pytest.mark.parametrize("prefix, problem", [
    ("servers.{host}.x", "unknown placeholder {host}"),
    ("a.{hostname", "not allowed"),
    ("a b", "not allowed"),
    ("a;b=c", "not allowed"),
    ("a.*", "not allowed"),
    ("a..b", "empty path part"),
    (".a", "empty path part"),
    ("~a", "may not start with '~'"),
])
def test_bad_prefixes_are_refused(prefix: str, problem: str) -> None:
    with pytest.raises(config.ConfigError, match=re.escape(problem)) as e:
        config.from_text(f"graphite:\n  host: h\n  prefix: {prefix!r}\n", "c.yaml")
    assert "c.yaml:3: key 'graphite.prefix'" in str(e.value)


@pytest.mark.parametrize("value", ["-1", "abc", "true", ".inf"])
def test_bad_flush_grace_is_refused(value: str) -> None:
    with pytest.raises(config.ConfigError, match="graphite.flush_grace"):
        config.from_text(f"graphite:\n  host: h\n  flush_grace: {value}\n")


def test_graphite_defaults() -> None:
    cfg = config.from_text("graphite: {host: h}")
    assert cfg.graphite is not None
    assert cfg.graphite.flush_grace == 5.0 and cfg.graphite.backlog_memcap == 64 << 20
    assert config.from_text("graphite: {host: h, flush_grace: 0}").graphite.flush_grace == 0
