"""Per-name caches stay bounded while names churn (NFACCT objects and nft counters made and
deleted, NFLOG prefixes of namespaces that are recreated): the decoder's name cache and the
renderers' caches start again past the shared bound instead of growing for the daemon's life."""

import struct

import pytest

from nfacct_exporter import config, naming
from nfacct_exporter.netlink import core, nfacct
from nfacct_exporter.records import NflogCount, NftCounter
from nfacct_exporter.sinks.graphite import NfacctLines, NflogLines, NftLines
from nfacct_exporter.sinks.prometheus.nfacct import NfacctRenderer
from nfacct_exporter.sinks.prometheus.nflog import NflogRenderer
from nfacct_exporter.sinks.prometheus.nft import NftRenderer
from nfacct_exporter.snapshot import Reading, Snapshot

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


def dumped(name: str, value: int) -> bytes:
    """One ACCT_NEW message of a dump, in the kernel's layout for an object without quota."""
    body = b""
    for atype, payload in ((nfacct.NFACCT_NAME, name.encode() + b"\0"),
                           (nfacct.NFACCT_PKTS, struct.pack(">Q", value)),
                           (nfacct.NFACCT_BYTES, struct.pack(">Q", value)),
                           (nfacct.NFACCT_USE, struct.pack(">I", 1))):
        body += struct.pack("=HH", 4 + len(payload), atype) + payload + bytes(-len(payload) % 4)
    return struct.pack("=IHHII", 20 + len(body), nfacct.ACCT_NEW, 2, 1, 0) + bytes(4) + body


def test_nfacct_caches_are_bounded() -> None:
    prom, lines = NfacctRenderer(()), NfacctLines(GRAPHITE, ())
    for i in range(10 * BOUND):  # one new object name a poll
        objects: list = []
        nfacct.decode(dumped(f"o{i}", i), objects)
        assert objects[0].name == f"o{i}"
        r = Reading("nfacct", True, 0.0, tuple(objects))
        assert f'name="o{i}"' in b"".join(prom.render([r])).decode()
        assert f".o{i}.pkts " in lines.chunk(Snapshot(i, 1.0, 0.0, {"nfacct": r})).decode()
    assert len(core.names) <= BOUND + 1
    assert prom._names == [f"o{10 * BOUND - 1}"] and not prom._labels  # the template: names now
    assert len(lines._templates) == 1
