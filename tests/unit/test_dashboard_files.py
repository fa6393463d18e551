"""The shipped Grafana dashboards and Prometheus rules, checked offline: Grafana's own TypeScript
types (npm @grafana/schema + tsc), layout and variables, promtool on the rules and config.
Their queries run against real servers in tests/e2e/test_dashboard_queries.py."""

import json
import shutil
import subprocess

import pytest
import yaml

from tests.support.dashlib import (
    ALERTS,
    BUILTINS,
    DASHBOARDS,
    GRAPHITE_DASHBOARD,
    PROM_DASHBOARD,
    ROOT,
    load,
    panels,
    references,
    variables,
)

NPM_DIR = ROOT / "tests" / "dashboards"
BOARDS = [PROM_DASHBOARD, GRAPHITE_DASHBOARD]


def test_dashboards_present() -> None:
    assert sorted(DASHBOARDS.glob("*.json")) == sorted(BOARDS)


@pytest.mark.skipif(not (NPM_DIR / "node_modules" / ".bin" / "tsc").exists(),
                    reason="npm packages missing: run `make deps`")
def test_dashboards_type_check_against_grafana_schema() -> None:
    r = subprocess.run(["node", "check_dashboards.mjs", *map(str, BOARDS)], cwd=NPM_DIR,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_type_check_rejects_unknown_keys_and_wrong_types(tmp_path) -> None:  # noqa: ANN001
    """The checker itself: a misspelt key and a string width must fail."""
    if not (NPM_DIR / "node_modules" / ".bin" / "tsc").exists():
        pytest.skip("npm packages missing: run `make deps`")
    bad = load(PROM_DASHBOARD)
    bad["panels"][1]["titel"] = "typo"
    bad["panels"][2]["gridPos"]["w"] = "12"
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(bad))
    r = subprocess.run(["node", "check_dashboards.mjs", str(f)], cwd=NPM_DIR,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "'\"titel\"' does not exist" in r.stdout
    assert "not assignable to type 'number'" in r.stdout


@pytest.mark.parametrize("path", BOARDS, ids=lambda p: p.name)
def test_layout_ids_and_refids(path) -> None:  # noqa: ANN001
    d = load(path)
    ps = panels(d)
    ids = [p["id"] for p in ps]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: dict[tuple[int, int], str] = {}
    for p in ps:
        g = p["gridPos"]
        assert {"x", "y", "w", "h"} <= set(g) and g["x"] + g["w"] <= 24 and g["w"] > 0 < g["h"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = p["title"]
        refs = [t["refId"] for t in p.get("targets", [])]
        assert len(refs) == len(set(refs)) and all(refs), p["title"]
        if p["type"] not in ("row", "text"):
            assert p["targets"] and p["datasource"]["uid"] == "${datasource}", p["title"]
            assert p.get("description"), f"{p['title']!r}: every panel says what it shows"


@pytest.mark.parametrize("path", BOARDS, ids=lambda p: p.name)
def test_every_variable_used_is_defined(path) -> None:  # noqa: ANN001
    d = load(path)
    defined = variables(d)
    assert defined["datasource"]["type"] == "datasource"
    used: set[str] = set()
    text = [v.get("query", "") for v in defined.values() if isinstance(v.get("query"), str)]
    for p in panels(d):
        text += [p.get("title", ""), p.get("description", "")]
        text += [str(t.get("expr", t.get("target", ""))) for t in p.get("targets", [])]
        text.append(str(p.get("datasource", "")))
    for s in text:
        used |= references(s)
    assert used - set(defined) - set(BUILTINS) == set()
    assert set(defined) - used == set(), "every variable is used somewhere"


promtool = pytest.mark.skipif(not shutil.which("promtool"), reason="needs promtool")


@promtool
def test_promtool_check_rules() -> None:
    r = subprocess.run(["promtool", "check", "rules", str(ALERTS)], capture_output=True,
                       text=True)
    assert r.returncode == 0 and "SUCCESS: 10 rules found" in r.stdout, r.stdout + r.stderr


@promtool
def test_promtool_unit_tests_cover_every_alert() -> None:
    r = subprocess.run(["promtool", "test", "rules", "alerts_test.yml"],
                       cwd=ALERTS.parent, capture_output=True, text=True)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
    alerts = {a["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for a in g["rules"]}
    cases = yaml.safe_load((ALERTS.parent / "alerts_test.yml").read_text())["tests"]
    firing = {c["alertname"] for t in cases for c in t["alert_rule_test"] if c["exp_alerts"]}
    quiet = {c["alertname"] for t in cases for c in t["alert_rule_test"] if not c["exp_alerts"]}
    assert alerts == firing == quiet, "each alert has a firing and a quiet case"


@promtool
def test_promtool_check_example_config() -> None:
    r = subprocess.run(["promtool", "check", "config", "prometheus.yml"], cwd=ALERTS.parent,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
