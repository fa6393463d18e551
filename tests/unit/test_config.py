"""Configuration: valid files load, every kind of bad input is one clear line with file and key."""

import subprocess
import sys
from pathlib import Path

import pytest

from nfacct_exporter import config
from tests.support.configs import assert_one_error

GOOD = """\
pollinterval: 0.5
prometheus:
  listen: "127.0.0.1:19849"
graphite:
  host: 127.0.0.1
  port: 32003
  prefix: netfilter.nfacct
labels:
  - match: '^(?P<family>ipv[46])\\.(?P<app>[^.]+)$'
  - match: 'lan.*'
    labels: {zone: lan, app: "$1"}
  - parts: [zone, null, app]
"""


def test_good_config_loads() -> None:
    cfg = config.from_text(GOOD, "good.yaml")
    assert cfg.pollinterval == 0.5
    assert cfg.listen == "127.0.0.1:19849"
    assert cfg.graphite is not None and cfg.graphite.port == 32003
    assert len(cfg.labels) == 3


def test_empty_file_is_all_defaults() -> None:
    cfg = config.from_text("", "empty.yaml")
    assert cfg.pollinterval == 10 and cfg.listen == config.DEFAULT_LISTEN and cfg.graphite is None


@pytest.mark.parametrize("text, key, line", [
    ("pollinterval: 0\n", "pollinterval", 1),
    ("pollinterval: -1\n", "pollinterval", 1),
    ("pollinterval: ten\n", "pollinterval", 1),
    ("pollinterval: true\n", "pollinterval", 1),
    ("bogus: 1\n", "bogus", 1),
    ("prometheus:\n  listen: nope\n", "prometheus.listen", 2),
    ("prometheus:\n  listen: ':99999'\n", "prometheus.listen", 2),
    ("graphite:\n  port: 2003\n", "graphite", 1),
    ("graphite:\n  host: h\n  port: abc\n", "graphite.port", 3),
    ("graphite:\n  host: h\n  mode: sum\n", "graphite.mode", 3),
    ("graphite:\n  host: h\n  prefix: 'a b'\n", "graphite.prefix", 3),
    ("labels:\n  - match: '(['\n", "labels[0].match", 2),
    ("labels:\n  - match: 'a.*'\n    labels: {name: x}\n", "labels[0]", 2),
    ("labels:\n  - parts: [netns, app]\n", "labels[0]", 2),
    ("namespaces: [self]\n", "namespaces[0]", 1),
    ("namespaces: [a, a]\n", "namespaces[1]", 1),
    ("namespaces: [{label: x}]\n", "namespaces[0]", 1),
    # the same label as the primary namespace: two readings under one key, one silently lost
    ("netns: blue\nnamespaces: [{path: /run/netns/red, label: blue}]\n", "namespaces[0]", 2),
    ("nft_counters: 1\n", "nft_counters", 1),
    ("graphite:\n  host: h\n  nft_prefix: netfilter.nfacct.x\n", "graphite.nft_prefix", 3),
    ("labels:\n  - match: 'a.*'\n    labels: {x: '$2'}\n", "labels[0]", 2),
    ("labels:\n  - match: 'no groups'\n", "labels[0]", 2),
    ("labels:\n  - parts: [a, a]\n", "labels[0]", 2),
    ("labels:\n  - parts: ['bad-name']\n", "labels[0]", 2),
    ("labels: {a: 1}\n", "labels", 1),
])
def test_bad_values_name_file_line_and_key(text: str, key: str, line: int) -> None:
    assert_one_error(text, key, line)


def test_yaml_syntax_error_has_line() -> None:
    with pytest.raises(config.ConfigError) as e:
        config.from_text("pollinterval: 1\nlabels: [\n", "syn.yaml")
    assert str(e.value).startswith("syn.yaml:3: YAML syntax error")


def test_duplicate_key_is_an_error() -> None:
    with pytest.raises(config.ConfigError, match="duplicate key"):
        config.from_text("pollinterval: 1\npollinterval: 2\n", "dup.yaml")


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(config.ConfigError) as e:
        config.from_text("pollinterval: 0\nbogus: 1\n", "two.yaml")
    assert len(str(e.value).splitlines()) == 2


def test_missing_file() -> None:
    with pytest.raises(config.ConfigError, match="/nonexistent.yaml: cannot read"):
        config.load("/nonexistent.yaml")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nfacct_exporter", *args],
                          capture_output=True, text=True, timeout=30)


def test_check_accepts_the_shipped_example() -> None:
    example = Path(__file__).parents[2] / "config.example.yaml"
    r = run_cli("--config", str(example), "--check")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("text", ["pollinterval: 0\n", "labels: [\n", "x: 1\n"])
def test_check_and_daemon_refuse_bad_config_without_traceback(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    for extra in (["--check"], ["--web.listen-address", "127.0.0.1:0"]):
        r = run_cli("--config", str(path), *extra)
        assert r.returncode == 2, r
        assert "Traceback" not in r.stderr
        assert str(path) in r.stderr
        assert 1 <= len(r.stderr.splitlines()) <= 3


def test_flag_override_does_not_skip_validation(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("prometheus:\n  listen: garbage\n")
    r = run_cli("--config", str(path), "--web.listen-address", "127.0.0.1:19999", "--check")
    assert r.returncode == 2 and "prometheus.listen" in r.stderr


def test_bad_listen_flag() -> None:
    r = run_cli("--web.listen-address", "nope", "--check")
    assert r.returncode == 2 and "--web.listen-address" in r.stderr
