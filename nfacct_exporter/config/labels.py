"""The ``labels:`` section: rules that turn object names into Prometheus labels, or drop or
keep names (``action``)."""

import dataclasses
import re
from typing import Any

from nfacct_exporter import naming
from nfacct_exporter.config.checks import MISSING, Invalid, Reader, anything, choice, string

_RESERVED = {"name": "the exact object name", "netns": "the network namespace"}
_SPEC = {"match": string, "match_type": choice("glob", "regex"), "labels": anything,
         "parts": anything, "action": choice("map", "keep", "drop")}


def parse(r: Reader, data: Any) -> tuple[naming.LabelRule, ...]:
    """The ``labels:`` list → LabelRules, reporting every problem through ``r``."""
    if not isinstance(data, list):
        r.error("labels", data, "expected a list of rules")
        return ()
    rules = []
    for i, item in enumerate(data):
        key = f"labels[{i}]"
        got = r.section(item, key, _SPEC)
        try:
            rules.append(_rule(got))
        except Invalid as e:
            r.error(key, MISSING, str(e))
        except re.error as e:
            r.error(f"{key}.match", got.get("match"), f"bad regular expression: {e}")
    return tuple(rules)


def _names(names: list[Any]) -> None:
    for n in names:
        if not isinstance(n, str) or not naming.LABEL_NAME.match(n) or n.startswith("__"):
            raise Invalid(f"bad label name {n!r} (expected [a-zA-Z_][a-zA-Z0-9_]*, no __)")
        if n in _RESERVED:
            raise Invalid(f"label {n!r} is reserved for {_RESERVED[n]}")


def _rule(got: dict) -> naming.LabelRule:
    action = got.pop("action", "map")
    if action == "map":
        return _mapping(got)
    if "match" not in got or "parts" in got:
        raise Invalid(f"action {action!r} needs 'match' (and no 'parts')")
    if action == "drop" and "labels" in got:
        raise Invalid("a dropped name has no labels: remove 'labels'")
    if "labels" in got:
        return dataclasses.replace(_mapping(got), action=action)
    glob = got.get("match_type", "glob") == "glob"  # graphite_exporter's default
    rule = naming.regex_rule(naming.glob_to_regex(got["match"]) if glob else got["match"])
    _names([k for k, _ in rule.templates])  # a kept regex's named groups are labels
    return dataclasses.replace(rule, action=action)


def _mapping(got: dict) -> naming.LabelRule:
    if "parts" in got:
        if set(got) != {"parts"}:
            raise Invalid("'parts' stands alone (no match, match_type or labels)")
        parts = got["parts"]
        if not isinstance(parts, list) or not parts:
            raise Invalid("'parts' must be a non-empty list of label names or null")
        names = [p for p in parts if p is not None]
        _names(names)
        if len(set(names)) != len(names):
            raise Invalid("'parts' names a label twice")
        return naming.parts_rule(parts)
    if "match" not in got:
        raise Invalid("a rule needs 'match' (or 'parts')")
    if "labels" not in got:
        if got.get("match_type", "regex") != "regex":
            raise Invalid("a glob rule needs 'labels'")
        rule = naming.regex_rule(got["match"])
        if not rule.templates:
            raise Invalid("the regex has no named groups (?P<label>...) and no 'labels' given")
    else:
        labels = got["labels"]
        if not isinstance(labels, dict) or not labels:
            raise Invalid("'labels' must be a mapping of label name to template")
        if not all(isinstance(v, (str, int)) for v in labels.values()):
            raise Invalid("'labels' values must be strings")
        rule = naming.template_rule(got["match"], got.get("match_type", "glob"), labels)
    _names([k for k, _ in rule.templates])
    problems = naming.template_errors(rule)
    if problems:
        raise Invalid("; ".join(problems))
    return rule
