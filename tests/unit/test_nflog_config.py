"""The ``nflog:`` section and ``graphite.nflog_prefix``: good files load, each problem is one
line naming file, line and key."""

import pytest

from nfacct_exporter import config
from tests.support.configs import assert_one_error

GOOD = """\
nflog:
  - group: 1
    verdict: accept
  - group: 2
    verdict: drop
    prefix_verdicts:
      - {match: '^SSH', verdict: accept}
      - match: 'REJECT$'
        verdict: reject
    max_prefixes: 16
    rcvbuf: 33554432
    qthreshold: 50
    qtimeout: 0.5
  - group: 65535
  - group: 0
graphite:
  host: 127.0.0.1
  nflog_prefix: fw.nflog
"""


def test_good_nflog_section_loads() -> None:
    cfg = config.from_text(GOOD, "good.yaml")
    g1, g2, g3, g0 = cfg.nflog
    assert (g1.group, g1.verdict, g1.max_prefixes, g1.prefix_verdicts) == (1, "accept", 256, ())
    assert (g2.group, g2.verdict, g2.max_prefixes, g2.rcvbuf) == (2, "drop", 16, 32 << 20)
    assert (g2.qthreshold, g2.qtimeout) == (50, 0.5)
    assert [(rx.pattern, v) for rx, v in g2.prefix_verdicts] == [("^SSH", "accept"),
                                                                  ("REJECT$", "reject")]
    assert (g3.group, g3.verdict) == (65535, "log") and g0.group == 0
    assert cfg.graphite is not None and cfg.graphite.nflog_prefix == "fw.nflog"


def test_defaults() -> None:
    cfg = config.from_text("graphite: {host: h}\n", "d.yaml")
    assert cfg.nflog == () and cfg.graphite is not None
    assert cfg.graphite.nflog_prefix == "netfilter.nflog"


@pytest.mark.parametrize("text, key, line", [
    ("nflog: 3\n", "nflog", 1),
    ("nflog: {group: 1}\n", "nflog", 1),
    ("nflog:\n  - 5\n", "nflog[0]", 2),
    ("nflog:\n  - verdict: drop\n", "nflog[0]", 2),
    ("nflog:\n  - group: 65536\n", "nflog[0].group", 2),
    ("nflog:\n  - group: -1\n", "nflog[0].group", 2),
    ("nflog:\n  - group: '1'\n", "nflog[0].group", 2),
    ("nflog:\n  - group: true\n", "nflog[0].group", 2),
    ("nflog:\n  - group: 1\n  - group: 1\n", "nflog[1].group", 3),
    ("nflog:\n  - group: 1\n    verdict: allow\n", "nflog[0].verdict", 3),
    ("nflog:\n  - group: 1\n    bogus: 1\n", "nflog[0].bogus", 3),
    ("nflog:\n  - group: 1\n    max_prefixes: 0\n", "nflog[0].max_prefixes", 3),
    ("nflog:\n  - group: 1\n    rcvbuf: 10\n", "nflog[0].rcvbuf", 3),
    ("nflog:\n  - group: 1\n    qthreshold: 0\n", "nflog[0].qthreshold", 3),
    ("nflog:\n  - group: 1\n    qtimeout: 0\n", "nflog[0].qtimeout", 3),
    ("nflog:\n  - group: 1\n    prefix_verdicts: {a: drop}\n", "nflog[0].prefix_verdicts", 3),
    ("nflog:\n  - group: 1\n    prefix_verdicts:\n      - {match: '(', verdict: drop}\n",
     "nflog[0].prefix_verdicts[0].match", 4),
    ("nflog:\n  - group: 1\n    prefix_verdicts:\n      - {match: 'x'}\n",
     "nflog[0].prefix_verdicts[0]", 4),
    ("nflog:\n  - group: 1\n    prefix_verdicts:\n      - {match: 'x', verdict: ok}\n",
     "nflog[0].prefix_verdicts[0].verdict", 4),
    ("graphite:\n  host: h\n  nflog_prefix: 'a b'\n", "graphite.nflog_prefix", 3),
    ("graphite:\n  host: h\n  nflog_prefix: 'a..b'\n", "graphite.nflog_prefix", 3),
])
def test_bad_values_name_file_line_and_key(text: str, key: str, line: int) -> None:
    assert_one_error(text, key, line)


def test_every_bad_group_is_reported() -> None:
    with pytest.raises(config.ConfigError) as e:
        config.from_text("nflog:\n  - group: 1\n    verdict: x\n  - group: 99999\n", "two.yaml")
    assert len(str(e.value).splitlines()) == 2
