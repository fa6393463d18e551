"""OpenMetrics 1.0.0: negotiated by ``Accept`` q-values, accepted by prometheus_client's strict
parser, the same samples as the text format, converted once per poll."""

import gzip

import pytest
from prometheus_client import CollectorRegistry, Counter, Info
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse

from nfacct_exporter import naming
from nfacct_exporter.records import NfacctObject, NflogCount, NflogGroupStats, NftCounter
from nfacct_exporter.sinks.prometheus.exposition import PrometheusSink
from nfacct_exporter.sinks.prometheus.nfacct import NfacctRenderer
from nfacct_exporter.sinks.prometheus.nflog import NflogRenderer
from nfacct_exporter.sinks.prometheus.nft import NftRenderer
from nfacct_exporter.snapshot import Reading, Snapshot
from nfacct_exporter.web.negotiation import wants_openmetrics

RULES = (naming.regex_rule(r"^(?P<family>ipv[46])\.(?P<app>[^.]+)$"),)
PROMETHEUS = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
              "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


@pytest.mark.parametrize(("accept", "om"), [
    (None, False), ("", False), ("*/*", False), ("text/plain", False),
    (PROMETHEUS, True), ("application/openmetrics-text", True),
    ("application/openmetrics-text; version=0.0.1", True),
    ("application/openmetrics-text;version=2.0.0", False),
    ("application/openmetrics-text;q=0.5,text/plain", False),
    ("text/plain;q=0.2,application/openmetrics-text;q=0.3", True),
    ("application/openmetrics-text;q=0", False),
    ("application/openmetrics-text;q=0.5,*/*;q=0.5", False),  # the text format wins a tie
    ("application/openmetrics-text;q=bogus", False),
])
def test_accept_q_values(accept: str | None, om: bool) -> None:
    assert wants_openmetrics(accept) == om


def sink() -> PrometheusSink:
    reg = CollectorRegistry()
    Counter("nfacct_exporter_test_events", "Own counter.", registry=reg).inc(3)
    Info("nfacct_exporter_build", "Build.", registry=reg).info({"version": "1"})
    s = PrometheusSink({"nfacct": NfacctRenderer(RULES).render, "nflog": NflogRenderer().render,
                        "nft": NftRenderer(RULES).render}, reg)
    nfacct = (NfacctObject("ipv4.http", 19, 1381), NfacctObject('q"uote\n', 1, 2),
              NfacctObject("month", 5, 5000, quota=1000, quota_unit="bytes", over_quota=True))
    nflog = Reading("nflog", True, 0.0, (NflogCount(2, "drop in", "drop", 3, 180),
                                         NflogCount(2, None, "drop", 1, 60)),
                    extra={"groups": (NflogGroupStats(2, 0, 1, 1),)})
    s.publish(Snapshot(1, 0.0, 0.0, {
        "nfacct": Reading("nfacct", True, 0.0, nfacct,
                          extra={"over_quota_events": {"month": 1}}),
        "nflog": nflog,
        "nft": Reading("nft", True, 0.0, (NftCounter("inet", "filter", "ipv6.dns", 4, 400),))}))
    return s


def samples(families: object) -> dict:
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in families for s in f.samples if not s.name.endswith("_created")}


def test_openmetrics_is_strict_and_has_the_text_samples() -> None:
    s = sink()
    om = s.exposition(openmetrics=True).decode()
    assert om.endswith("# EOF\n") and om.count("# EOF") == 1
    assert "# TYPE nfacct_packets counter\n" in om and "\nnfacct_packets_total{" in om
    families = list(om_parse(om))  # raises on anything strict OpenMetrics refuses
    kinds = {f.name: f.type for f in families}
    assert kinds["nfacct_packets"] == kinds["nflog_lost_packets"] == "counter"
    assert kinds["nfacct_over_quota"] == "gauge" and kinds["nfacct_exporter_build"] == "info"
    text = samples(text_parse(s.exposition().decode()))
    assert samples(families) == text


def test_openmetrics_converted_once_per_poll_and_gzipped() -> None:
    s = sink()
    first = s.exposition(openmetrics=True)
    counters = s._om[False]
    assert s.exposition(openmetrics=True) == first and s._om[False] is counters
    assert gzip.decompress(s.exposition(gzipped=True, openmetrics=True)) == first
    s.publish(Snapshot(2, 0.0, 0.0, {"nfacct": Reading("nfacct", True, 0.0, (
        NfacctObject("ipv4.http", 20, 1400),))}))
    again = s.exposition(openmetrics=True).decode()
    assert "nfacct_packets_total{" in again and 'name="ipv4.http",family="ipv4",app="http"} 20' \
        in again


def test_conversion_touches_only_counter_headers() -> None:
    from nfacct_exporter.sinks.prometheus.openmetrics import from_text
    body = (b"# HELP a_total Help.\n# TYPE a_total counter\n"
            b'a_total{name="x\\n# TYPE b_total counter"} 1\n'
            b"# HELP g_total A gauge.\n# TYPE g_total gauge\ng_total 2\n"
            b"# TYPE c_total counter\nc_total 3\n")
    assert from_text(body) == (b"# HELP a Help.\n# TYPE a counter\n"
                               b'a_total{name="x\\n# TYPE b_total counter"} 1\n'
                               b"# HELP g_total A gauge.\n# TYPE g_total gauge\ng_total 2\n"
                               b"# TYPE c counter\nc_total 3\n")


def test_gzip_openmetrics_keeps_only_the_compressed_counters() -> None:
    s = sink()
    gz = s.exposition(gzipped=True, openmetrics=True)
    assert list(s._om) == [True]  # no uncompressed copy kept for Prometheus's gzip scrapes
    assert gzip.decompress(gz) == s.exposition(openmetrics=True)
    counters, own = s.parts(gzipped=True, openmetrics=True)
    assert counters is s._om[True] and gzip.decompress(own).endswith(b"# EOF\n")
