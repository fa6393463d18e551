"""The status sink: rates from consecutive polls, the bounded ring, paging, filters, health."""

import json
import time

from nfacct_exporter import naming
from nfacct_exporter.records import NfacctObject, NflogCount, NflogGroupStats, NftCounter
from nfacct_exporter.sinks.status import HISTORY, StatusSink
from nfacct_exporter.sinks.status_query import Query, parse
from nfacct_exporter.snapshot import Reading, Snapshot

RULES = (naming.regex_rule(r"^(?P<family>ipv[46])\.(?P<app>[^.]+)$"),)
T0 = 1_800_000_000.0


def snap(seq: int, t: float, **readings: Reading) -> Snapshot:
    return Snapshot(seq, t, 0.003, {k.replace("_at_", "@"): r for k, r in readings.items()})


def nfacct(*objs: tuple[str, int, int], netns: str | None = None, ok: bool = True) -> Reading:
    return Reading("nfacct", ok, 0.001, tuple(NfacctObject(*o) for o in objs) if ok else (),
                   error="" if ok else "EPERM", netns=netns)


def status(sink: StatusSink, query: str = "") -> dict:
    return json.loads(sink.json(parse(query)))


def by_name(doc: dict) -> dict[str, dict]:
    return {(c["netns"], c["name"]): c for c in doc["counters"]["items"]}


def test_rates_are_the_deltas_over_the_last_interval() -> None:
    s = StatusSink(RULES, 10)
    s.publish(snap(1, T0, nfacct=nfacct(("ipv4.http", 100, 10_000), ("ipv6.dns", 5, 500))))
    first = by_name(status(s))
    assert first[(None, "ipv4.http")]["packets_per_second"] is None  # one poll: no rate yet
    s.publish(snap(2, T0 + 10, nfacct=nfacct(("ipv4.http", 300, 70_000), ("ipv6.dns", 5, 500))))
    c = by_name(status(s))
    http = c[(None, "ipv4.http")]
    assert (http["packets"], http["bytes"]) == (300, 70_000)
    assert (http["packets_per_second"], http["bytes_per_second"]) == (20.0, 6000.0)
    assert http["labels"] == {"family": "ipv4", "app": "http"}
    assert http["kind"] == "nfacct"
    assert c[(None, "ipv6.dns")]["packets_per_second"] == 0.0
    assert http["history"] == {"packets_per_second": [20.0], "bytes_per_second": [6000.0]}


def test_reset_counts_from_zero_and_order_changes_keep_identity() -> None:
    s = StatusSink((), 1)
    s.publish(snap(1, T0, nfacct=nfacct(("a", 100, 1000), ("b", 10, 100))))
    s.publish(snap(2, T0 + 2, nfacct=nfacct(("new", 1, 1), ("b", 30, 300), ("a", 4, 40))))
    c = by_name(status(s))
    assert c[(None, "a")]["packets_per_second"] == 2.0  # went down: 4 counted from zero
    assert c[(None, "b")]["bytes_per_second"] == 100.0
    assert c[(None, "new")]["packets_per_second"] is None
    assert c[(None, "new")]["history"]["packets_per_second"] == [None]


def test_history_ring_is_bounded() -> None:
    s = StatusSink((), 1)
    for i in range(3 * HISTORY):
        s.publish(snap(i, T0 + i, nfacct=nfacct(("x", i * i, 0))))
    hist = status(s)["counters"]["items"][0]["history"]["packets_per_second"]
    n = 3 * HISTORY - 1
    assert len(hist) == HISTORY - 1
    assert hist[-1] == n * n - (n - 1) * (n - 1)
    assert all(len(st.ring) <= HISTORY for st in s._streams.values())


def test_namespaces_nft_and_failed_sources() -> None:
    s = StatusSink(RULES, 1)
    nft = Reading("nft", True, 0.001, (NftCounter("inet", "filter", "ipv4.web", 1, 2),))
    for i in (1, 2):
        s.publish(snap(i, T0 + i, nfacct=nfacct(("ipv4.http", i, i)),
                       nfacct_at_blue=nfacct(("ipv4.http", 10 * i, 10 * i), netns="blue"),
                       nft=nft))
    c = by_name(status(s))
    assert c[("blue", "ipv4.http")]["packets_per_second"] == 10.0
    assert c[(None, "ipv4.web")]["labels"] == {"family": "inet", "table": "filter",
                                               "app": "web"}
    assert [i["name"] for i in status(s, "kind=nft")["counters"]["items"]] == ["ipv4.web"]
    s.publish(snap(3, T0 + 3, nfacct=nfacct(("ipv4.http", 3, 3)),
                   nfacct_at_blue=nfacct(netns="blue", ok=False)))
    doc = status(s)
    assert set(by_name(doc)) == {(None, "ipv4.http")}  # failed: gone, as on /metrics
    bad = [x for x in doc["health"]["sources"] if not x["ok"]]
    assert bad == [{"source": "nfacct", "netns": "blue", "ok": False, "error": "EPERM",
                    "duration": 0.001}]
    assert set(s._streams) == {"nfacct", "nfacct@blue"}  # nft no longer read: forgotten


def ten_thousand(seq: int) -> Snapshot:
    objs = [(f"ipv{4 + 2 * (i % 2)}.app{i:05d}", i * seq, 100 * i * seq) for i in range(10_000)]
    return snap(seq, T0 + seq, nfacct=nfacct(*objs))


def test_ten_thousand_counters_top_n_paging_and_filters() -> None:
    s = StatusSink(RULES, 1)
    s.publish(ten_thousand(1))
    s.publish(ten_thousand(2))
    doc = status(s)
    c = doc["counters"]
    assert (c["total"], c["matched"], c["offset"], c["limit"]) == (10_000, 10_000, 0, 50)
    assert [i["name"] for i in c["items"][:2]] == ["ipv6.app09999", "ipv4.app09998"]
    page = status(s, "offset=9990&limit=20&sort=packets_per_second&order=asc")["counters"]
    assert [i["packets_per_second"] for i in page["items"]] == list(range(9990, 10_000))
    f = status(s, "q=family%3Dipv6+app099&sort=name&order=asc")["counters"]
    assert f["matched"] == 50
    assert f["items"][0]["name"] == "ipv6.app09901"
    assert all(i["labels"]["family"] == "ipv6" for i in f["items"])
    assert status(s, "q=nothing-like-this")["counters"]["items"] == []
    assert len(s.json(parse(""))) < 64 * 1024


def test_query_parameters_are_clamped_and_echoed() -> None:
    q = parse("sort=evil&order=sideways&limit=100000&offset=-5&top=x&kind=other&q=" + "a" * 500)
    assert q == Query(q="a" * 200, limit=1000)
    assert parse("sort=name&order=asc&limit=0") == Query(sort="name", order="asc", limit=1)


def test_json_is_built_once_per_poll_and_publish_stays_cheap() -> None:
    s = StatusSink(RULES, 1)
    s.publish(ten_thousand(1))
    costs = []
    for seq in range(2, 7):
        snapshot = ten_thousand(seq)
        t = time.perf_counter()
        s.publish(snapshot)
        costs.append(time.perf_counter() - t)
    assert sorted(costs)[2] < 0.05  # a few ms of C loops for 10,000 objects, no JSON
    q = parse("limit=5")
    assert s.json(q) is s.json(q)
    body = s.json(q)
    s.publish(ten_thousand(7))
    assert s.json(q) is not body


def test_nflog_top_prefixes_per_verdict_and_loss() -> None:
    s = StatusSink((), 5)
    for i in (1, 2):
        recs = (NflogCount(2, "SSH", "drop", 10 * i, 600 * i),
                NflogCount(2, "WEB", "drop", 50 * i, 3000 * i),
                NflogCount(2, None, "drop", i, 60 * i),
                NflogCount(3, "OK", "accept", 5 * i, 500 * i),
                *((NflogCount(3, "LATE", "accept", 9, 900),) if i == 2 else ()))
        extra = {"groups": (NflogGroupStats(2, 4 * i, 2, i), NflogGroupStats(3, 0, 1, 0)),
                 "receive_errors": 1}
        s.publish(snap(i, T0 + 5 * i, nflog=Reading("nflog", True, 0.0, recs, extra=extra)))
    doc = status(s, "top=2")
    top = doc["nflog"]["top"]
    assert list(top) == ["drop", "accept"]
    assert [(p["prefix"], p["packets_per_second"]) for p in top["drop"]] == [("WEB", 10.0),
                                                                               ("SSH", 2.0)]
    assert status(s)["nflog"]["top"]["drop"][2]["prefix"] is None  # the overflow record
    assert top["accept"][0]["group"] == 3
    late = top["accept"][0]  # first seen at this poll: counted from zero, like /metrics
    assert (late["prefix"], late["packets_per_second"]) == ("LATE", 1.8)
    assert late["history"]["packets_per_second"] == [1.8]
    n = doc["health"]["nflog"]
    assert (n["lost"], n["receive_errors"]) == (8, 1)
    assert n["groups"][0] == {"group": 2, "netns": None, "lost": 8, "lost_per_second": 0.8}


def test_health_graphite_reload_and_undecodable_names() -> None:
    class Carbon:
        connected, backlog_lines, backlog_bytes, lines_sent, lines_dropped = False, 7, 70, 3, 2

    s = StatusSink((), 1, carbon=Carbon(),
                   reload=lambda: {"successful": False, "timestamp": T0})
    raw = b"bad\xff".decode("utf-8", "surrogateescape")
    s.publish(snap(4, T0, nfacct=nfacct((raw, 1, 1))))
    doc = json.loads(s.json(parse("")))
    h = doc["health"]
    assert h["graphite"] == {"connected": False, "backlog_lines": 7, "backlog_bytes": 70,
                             "lines_sent": 3, "lines_dropped": 2}
    assert h["reload"] == {"successful": False, "timestamp": T0}
    assert (h["poll_seq"], h["poll_time"], h["objects"], h["interval"]) == (4, T0, 1, 1)
    assert doc["counters"]["items"][0]["name"] == "bad\\xff"
    assert StatusSink((), 1).view(Query())["counters"]["items"] == []  # before any poll


def test_a_reloaded_pipeline_keeps_the_recent_history() -> None:
    old = StatusSink((), 1)
    for i in (1, 2):
        old.publish(snap(i, T0 + i, nfacct=nfacct(("x", 10 * i, 100 * i))))
    new = StatusSink(RULES, 1)
    new.adopt(old)
    new.publish(snap(1, T0 + 3, nfacct=nfacct(("x", 60, 600))))
    old.publish(snap(3, T0 + 3, nfacct=nfacct(("x", 30, 300))))  # copied: not shared
    item = status(new)["counters"]["items"][0]
    assert item["packets_per_second"] == 40.0
    assert item["history"]["packets_per_second"] == [10.0, 40.0]


def test_labels_are_made_for_the_rows_asked_for_and_kept_only_while_asked_for() -> None:
    s = StatusSink(RULES, 10)
    objs = [(f"ipv4.app{i}", i, 10 * i) for i in range(200)]
    s.publish(snap(1, T0, nfacct=nfacct(*objs)))
    page = status(s, "limit=10&sort=name&order=asc")
    assert page["counters"]["items"][0]["labels"] == {"family": "ipv4", "app": "app0"}
    assert len(s._labels._now) == 10  # one page: ten rows labelled, not 200
    assert status(s, "q=app=app19")["counters"]["matched"] == 11  # app19, app190..app199
    assert len(s._labels._now) == 200  # a filter needs every row's labels
    s.publish(snap(2, T0 + 10, nfacct=nfacct(*objs)))
    assert status(s, "q=family=ipv4")["counters"]["matched"] == 200  # from the kept labels
    s.publish(snap(3, T0 + 20, nfacct=nfacct(*objs)))
    s.publish(snap(4, T0 + 30, nfacct=nfacct(*objs)))
    assert not s._labels._now and not s._labels._before  # nobody asked for two polls: gone
