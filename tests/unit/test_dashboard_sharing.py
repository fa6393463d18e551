"""The dashboards in Grafana's shared form: ``__inputs`` names the data source the importer picks,
``__requires`` the Grafana version, that data source and every panel plugin used; the alert rules
assume no job name and carry summary, description and a runbook that the README has."""

import re

import pytest
import yaml

from tests.support.dashlib import ALERTS, GRAPHITE_DASHBOARD, PROM_DASHBOARD, ROOT, load, panels


@pytest.mark.parametrize(("path", "plugin"), [(PROM_DASHBOARD, "prometheus"),
                                              (GRAPHITE_DASHBOARD, "graphite")],
                         ids=["prometheus", "graphite"])
def test_shared_form(path, plugin: str) -> None:  # noqa: ANN001
    d = load(path)
    [source] = d["__inputs"]
    assert source["type"] == "datasource" and source["pluginId"] == plugin
    required = {(r["type"], r["id"]) for r in d["__requires"]}
    used = {("panel", p["type"]) for p in panels(d) if p["type"] != "row"}
    assert required == {("grafana", "grafana"), ("datasource", plugin)} | used
    [var] = [v for v in d["templating"]["list"] if v["type"] == "datasource"]
    assert var["query"] == plugin and var["current"]["value"] == "${" + source["name"] + "}"


def test_alerts_assume_no_job_and_have_runbooks() -> None:
    text = ALERTS.read_text()
    assert "job=" not in text.split("groups:", 1)[1]
    readme = (ROOT / "README.md").read_text()
    for group in yaml.safe_load(text)["groups"]:
        for rule in group["rules"]:
            notes = rule["annotations"]
            assert notes["summary"] and notes["description"], rule["alert"]
            anchor = notes["runbook_url"].rsplit("#", 1)[1]
            assert anchor == rule["alert"].lower()
            assert re.search(rf"^#### {rule['alert']}$", readme, re.M), rule["alert"]
