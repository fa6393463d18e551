"""Per-name caches of the renderers stay bounded while names churn (nft counters made and
deleted, NFLOG prefixes of namespaces that are recreated): they start again past the bound, as
the NFACCT caches do, instead of growing for the life of the daemon."""

import pytest

from nfacct_exporter import config, naming
from nfacct_exporter.netlink.nft import NftCounter
from nfacct_exporter.sinks.graphite import NflogLines, NftLines
from nfacct_exporter.sinks.prometheus import NflogRenderer, NftRenderer
from nfacct_exporter.snapshot import Reading, Snapshot
from nfacct_exporter.sources.nflog import NflogCount

BOUND = 50
GRAPHITE = config.GraphiteConfig(host="h")


@pytest.fixture(autouse=True)
def small_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(naming, "CACHE_MAX", BOUND)


def test_nft_caches_are_bounded() -> None:
    prom, lines = NftRenderer(()), NftLines(GRAPHITE)
    for i in range(10 * BOUND):  # one new counter name a poll
        r = Reading("nft", True, 0.0, (NftCounter("inet", "t", f"c{i}", i, i),))
        assert f'name="c{i}"' in prom.render([r])
        assert f".c{i}.pkts " in lines.chunk(Snapshot(i, 1.0, 0.0, {"nft": r})).decode()
    assert len(prom._labels) <= BOUND + 1 and len(lines._paths) <= BOUND + 1


def test_nflog_caches_are_bounded() -> None:
    prom, lines = NflogRenderer(), NflogLines(GRAPHITE)
    for i in range(10 * BOUND):  # one new prefix a poll
        r = Reading("nflog", True, 0.0, (NflogCount(1, f"p{i}", "drop", 1, 1),))
        assert f'prefix="p{i}"' in prom.render([r])
        assert f".p{i}.pkts " in lines.chunk(Snapshot(i, 1.0, 0.0, {"nflog": r})).decode()
    assert len(prom._labels) <= BOUND + 1 and len(lines._paths) <= BOUND + 1
