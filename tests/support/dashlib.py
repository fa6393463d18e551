"""Reading the shipped Grafana dashboards and alert rules: panels, variables, queries, and the
queries with Grafana's variables replaced by what a user's "All" selection would send."""

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
PROM_DASHBOARD = DASHBOARDS / "nfacct-prometheus.json"
GRAPHITE_DASHBOARD = DASHBOARDS / "nfacct-graphite.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"

# Grafana's global variables, and what the tests substitute for them
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m", "__range_s": "300",
            "__all": "", "__name": "", "__dashboard": "", "__from": "0", "__to": "0"}
_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows' nested panels included, rows themselves too."""
    out = []
    for p in dashboard.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}


def references(text: str) -> set[str]:
    """Variable names used in ``text`` (``$x``, ``${x}``, ``${x:fmt}``, ``[[x]]``)."""
    return {next(g for g in m.groups() if g) for m in _VAR.finditer(text)}


def all_value(var: dict[str, Any]) -> str:
    """What the variable expands to with everything selected (or its default)."""
    if var["type"] in ("textbox", "constant"):
        return var["query"]
    if var["type"] == "custom":
        return var["current"]["value"]
    return var.get("allValue", "")


def substitute(text: str, dashboard: dict[str, Any]) -> str:
    """Replace every variable by its all-selected value (Grafana's interpolation, simplified)."""
    defined = variables(dashboard)

    def value(m: re.Match[str]) -> str:
        name = next(g for g in m.groups() if g)
        if name in BUILTINS:
            return BUILTINS[name]
        return all_value(defined[name])

    return _VAR.sub(value, text)


def targets(dashboard: dict[str, Any], key: str) -> list[tuple[dict, dict, str]]:
    """(panel, target, query text) for every target having ``key`` (``expr`` or ``target``)."""
    return [(p, t, t[key]) for p in panels(dashboard) for t in p.get("targets", []) if key in t]


def main_targets(dashboard: dict[str, Any], key: str) -> list[tuple[dict, str]]:
    """Each panel's first query: the one that must return data."""
    return [(p, p["targets"][0][key]) for p in panels(dashboard)
            if p.get("targets") and key in p["targets"][0]]


def alert_exprs() -> dict[str, str]:
    doc = yaml.safe_load(ALERTS.read_text())
    return {r["alert"]: r["expr"] for g in doc["groups"] for r in g["rules"]}


METRIC = re.compile(r"\b((?:nfacct|nflog)_[a-z0-9_]+|up)\b(?!\s*\()")
