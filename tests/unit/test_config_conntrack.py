"""The ``conntrack:`` key and ``graphite.conntrack_prefix``."""

import pytest

from nfacct_exporter import config
from nfacct_exporter.config.conntrack import ConntrackConfig


@pytest.mark.parametrize(("text", "expect"), [
    ("", None), ("conntrack: false\n", None), ("conntrack: true\n", ConntrackConfig()),
    ("conntrack: {per_cpu: true}\n", ConntrackConfig(per_cpu=True)),
    ("conntrack: {}\n", ConntrackConfig()),
])
def test_accepted(text: str, expect: ConntrackConfig | None) -> None:
    assert config.from_text(text).conntrack == expect


@pytest.mark.parametrize(("text", "message"), [
    ("conntrack: 1\n", "key 'conntrack' = 1: expected true, false or a mapping"),
    ("conntrack: {cpu: true}\n", "key 'conntrack.cpu': unknown key (known: per_cpu)"),
    ("conntrack: {per_cpu: 2}\n", "key 'conntrack.per_cpu' = 2"),
    ("graphite: {host: h, conntrack_prefix: netfilter.nfacct.ct}\n",
     "key 'graphite.conntrack_prefix' = 'netfilter.nfacct.ct': overlaps graphite.prefix"),
])
def test_refused_with_file_line_and_key(text: str, message: str) -> None:
    with pytest.raises(config.ConfigError) as e:
        config.from_text(text, "/etc/x.yaml")
    assert "/etc/x.yaml:1: " + message in str(e.value)


def test_graphite_prefix_default() -> None:
    g = config.from_text("graphite: {host: h}\n").graphite
    assert g is not None and g.conntrack_prefix == "netfilter.conntrack"
