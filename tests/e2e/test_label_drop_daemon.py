"""``action: drop`` on the real daemon: the dropped NFACCT object is neither scraped nor sent to
a real carbon, the others are."""

import shutil

import pytest

from tests.support.carbon import CARBON_CACHE, PREFIX, graphite

pytestmark = pytest.mark.skipif(not shutil.which(CARBON_CACHE), reason="needs graphite-carbon")


def test_dropped_names_are_not_exported(ns, carbon, exporter) -> None:  # noqa: ANN001
    for name in ("ipv4.kept", "tmp.gone"):
        ns.run("nfacct", "add", name)
    d = exporter(graphite(carbon) + "labels:\n  - match: 'tmp.*'\n    action: drop\n")
    carbon.wait_value(f"{PREFIX}.ipv4.kept.pkts", 0)
    text = d.text()
    assert 'name="ipv4.kept"' in text and "tmp.gone" not in text
    assert not [m for m in carbon.metrics() if "tmp" in m]
    assert "nfacct_exporter_objects 2.0" in text  # read, just not exported
