"""Name mapping and escaping: pure functions, checked against the rules README documents."""

import re

import pytest

from nfacct_exporter import naming


def unescape_graphite(path: str) -> str:
    """The inverse README documents: split on dots, unescape %XX, join with dots."""
    def part(p: str) -> bytes:
        return re.sub(rb"%([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), p.encode())
    return b".".join(part(p) for p in path.split(".")).decode("utf-8", "surrogateescape")


HOSTILE = ["ipv4.http", "web server", "web_server", "a..b", ".x", "x.", ".", "%", "%25",
           "é.ü", "tab\tx", "new\nline", 'q"uote', "back\\slash", "a*b?[c]{d}", "\udcff\udcfe",
           "semi;colon=1", "a/b"]


@pytest.mark.parametrize("name", HOSTILE)
def test_graphite_name_is_valid_and_reversible(name: str) -> None:
    path = naming.graphite_name(name)
    assert re.fullmatch(r"[A-Za-z0-9_%-]+(\.[A-Za-z0-9_%-]+)*", path), path
    assert unescape_graphite(path) == name


def test_graphite_names_never_merge() -> None:
    paths = [naming.graphite_name(n) for n in HOSTILE]
    assert len(set(paths)) == len(paths)


def test_ordinary_names_are_ulogd_paths() -> None:
    for name in ["ipv4.http", "ipv6.dns", "host-1.eth0_in", "a.b.c.d"]:
        assert naming.graphite_name(name) == name


def test_label_value_escaping() -> None:
    assert naming.label_set({"name": 'a"b\\c\nd'}) == '{name="a\\"b\\\\c\\nd"}'
    assert naming.label_set({"name": "é"}) == '{name="é"}'
    # bytes that are not UTF-8 come out as the text \xNN (escaped backslash)
    assert naming.label_set({"name": "\udcff"}) == '{name="\\\\xff"}'


def test_label_value_with_a_literal_backslash_x_and_bytes_that_are_not_utf8() -> None:
    """Only the escapes the text format knows (\\\\, \\", \\n): promtool refuses a bare \\x, and
    the name's own backslash must come back as one."""
    text = naming.label_value("\\x41\udcff")  # the name: backslash, x, 4, 1, byte 0xff
    assert text == "\\\\x41\\\\xff"
    assert re.fullmatch(r'(?:[^"\\\n]|\\[\\"n])*', text), text


def test_regex_rule_named_groups() -> None:
    rules = (naming.regex_rule(r"^(?P<family>ipv[46])\.(?P<app>[^.]+)$"),)
    assert naming.map_labels(rules, "ipv4.http") == {"family": "ipv4", "app": "http"}
    assert naming.map_labels(rules, "ipv4.http.x") == {}


def test_glob_rule_like_graphite_exporter() -> None:
    rule = naming.template_rule("lan.*.*", "glob", {"zone": "lan", "fam": "$1", "app": "${2}"})
    assert rule.apply("lan.ipv4.ssh") == {"zone": "lan", "fam": "ipv4", "app": "ssh"}
    assert rule.apply("lan.ipv4") is None
    assert rule.apply("lan.ipv4.ssh.x") is None
    # anchored at the very end: a trailing newline is part of the name, not dropped by `$`
    assert rule.apply("lan.ipv4.ssh\n") == {"zone": "lan", "fam": "ipv4", "app": "ssh\n"}


def test_parts_rule_and_first_match_wins() -> None:
    rules = (naming.parts_rule(["family", None, "app"]),
             naming.template_rule("*.*", "glob", {"family": "$1", "app": "$2"}))
    assert naming.map_labels(rules, "ipv6.lan.dns") == {"family": "ipv6", "app": "dns"}
    assert naming.map_labels(rules, "ipv6.dns") == {"family": "ipv6", "app": "dns"}
    assert naming.map_labels(rules, "nodots") == {}


def test_empty_label_values_are_dropped() -> None:
    rules = (naming.parts_rule(["a", "b"]),)
    assert naming.map_labels(rules, ".x") == {"b": "x"}


def test_template_errors_name_missing_groups() -> None:
    assert naming.template_errors(naming.template_rule("a.*", "glob", {"x": "$2"}))
    assert naming.template_errors(naming.template_rule("a", "regex", {"x": "${nope}"}))
    assert not naming.template_errors(naming.template_rule("a.*", "glob", {"x": "$1"}))
