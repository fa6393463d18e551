"""The ``counters:`` section and the rules printed for it (no kernel needed; loading the rules
for real is tests/kernel/test_counters_setup.py)."""

import pytest

from nfacct_exporter import config
from nfacct_exporter.config.counters import Counter, Match
from nfacct_exporter.provision import rules

GOOD = """\
counters:
  - ipv6.dns
  - name: ipv4.http
    quota: {bytes: 1000000}
    match: {direction: in, family: ipv4, protocol: tcp, port: 80}
  - name: guest
    quota: {packets: 5}
    match:
      - {protocol: udp, dport: "1000-2000"}
      - {direction: out, protocol: icmp}
"""


def errors(text: str) -> list[str]:
    with pytest.raises(config.ConfigError) as e:
        config.from_text(text, "c.yaml")
    return str(e.value).splitlines()


def test_counters_parse() -> None:
    c = config.from_text(GOOD, "c.yaml").counters
    assert c == (
        Counter("ipv6.dns"),
        Counter("ipv4.http", 1000000, "bytes",
                (Match("in", "ipv4", "tcp", port=(80, 80)),)),
        Counter("guest", 5, "packets",
                (Match(protocol="udp", dport=(1000, 2000)), Match("out", protocol="icmp"))),
    )
    assert config.from_text("pollinterval: 1\n").counters == ()


@pytest.mark.parametrize("text, expected", [
    ("counters: {a: 1}\n", "c.yaml:1: key 'counters' = {'a': 1}: expected a list"),
    ("counters:\n  - 'abcdefghijklmnopqrstuvwxyz012345'\n",
     "c.yaml:2: key 'counters[0]' = 'abcdefghijklmnopqrstuvwxyz012345': longer than 31 bytes"),
    ("counters:\n  - 'ääääääääääääääää'\n", "longer than 31 bytes"),  # 32 bytes in UTF-8
    ("counters:\n  - 80\n", "c.yaml:2: key 'counters[0]' = 80: expected a non-empty string"),
    ("counters:\n  - a\n  - b\n  - a\n", "c.yaml:4: key 'counters[2]' = 'a': declared twice"),
    ("counters:\n  - quota: {bytes: 5}\n", "c.yaml:2: key 'counters[0]': a counter needs 'name'"),
    ("counters:\n  - name: a\n    quota: {bytes: 5, packets: 5}\n",
     "c.yaml:3: key 'counters[0].quota': give exactly one of 'packets' or 'bytes'"),
    ("counters:\n  - name: a\n    quota: {bytes: 0}\n",
     "c.yaml:3: key 'counters[0].quota.bytes' = 0: expected an integer 1..2^64-1"),
    ("counters:\n  - name: a\n    quota: {octets: 5}\n",
     "c.yaml:3: key 'counters[0].quota.octets': unknown key (known: packets, bytes)"),
    ("counters:\n  - name: a\n    match: {port: 80}\n",
     "c.yaml:3: key 'counters[0].match': 'port' needs 'protocol' tcp, udp, sctp, dccp"),
    ("counters:\n  - name: a\n    match: {protocol: icmp, dport: 80}\n",
     "'dport' needs 'protocol' tcp, udp, sctp, dccp"),
    ("counters:\n  - name: a\n    match: {protocol: tcp, port: 80, sport: 1}\n",
     "'port' (either side) excludes 'sport' and 'dport'"),
    ("counters:\n  - name: a\n    match:\n      - {protocol: tcp, dport: '9-1'}\n",
     "c.yaml:4: key 'counters[0].match[0].dport' = '9-1': expected a port 1..65535"),
    ("counters:\n  - name: a\n    match: {direction: sideways}\n",
     "key 'counters[0].match.direction' = 'sideways': expected one of in, out, forward"),
    ("counters:\n  - name: a\n    match: {family: ipv5}\n", "expected one of ipv4, ipv6, both"),
    ("counters:\n  - name: a\n    match: {protocol: gre}\n",
     "expected one of tcp, udp, sctp, dccp, icmp"),
    ("counters:\n  - name: a\n    match: {interface: eth0}\n",
     "key 'counters[0].match.interface': unknown key"),
    ("counters:\n  - name: a\n    colour: red\n", "key 'counters[0].colour': unknown key"),
])
def test_counter_errors_name_file_line_and_key(text: str, expected: str) -> None:
    lines = errors(text)
    assert len(lines) == 1 and expected in lines[0], lines


def test_all_counter_errors_reported_at_once() -> None:
    lines = errors("counters:\n  - name: a\n    quota: {bytes: -1}\n  - ''\n  - name: c\n"
                   "    match: {protocol: tcp, port: 0}\n")
    assert len(lines) == 3, lines


def decl(text: str) -> tuple[Counter, ...]:
    return config.from_text(text, "c.yaml").counters


def test_iptables_rules() -> None:
    out = rules.render(decl(GOOD), "iptables", "c.yaml")
    body = [line for line in out.splitlines() if not line.startswith("#")]
    assert body == [
        "*filter",
        ":NFACCT-IN - [0:0]",
        ":NFACCT-OUT - [0:0]",
        '-A NFACCT-IN -p tcp -m multiport --ports 80 -m nfacct --nfacct-name "ipv4.http"',
        '-A NFACCT-IN -p udp --dport 1000:2000 -m nfacct --nfacct-name "guest"',
        '-A NFACCT-OUT -p icmp -m nfacct --nfacct-name "guest"',
        "-I INPUT 1 -j NFACCT-IN",
        "-I OUTPUT 1 -j NFACCT-OUT",
        "COMMIT",
    ]
    assert "# 'ipv6.dns': no 'match' declared" in out
    assert "-I INPUT" not in rules.render(decl(GOOD), "iptables", jumps=False)


def test_ip6tables_rules_use_icmpv6_and_skip_ipv4_only() -> None:
    out = rules.render(decl(GOOD), "ip6tables")
    assert "ipv4.http" not in out.replace("# 'ipv4.http'", "")
    assert '-A NFACCT-OUT -p ipv6-icmp -m nfacct --nfacct-name "guest"' in out


def test_restore_quoting() -> None:
    assert rules.quote_restore('web "a"\\b') == '"web \\"a\\"\\\\b"'
    assert rules.quote_restore("two\nlines") is None
    out = rules.render([Counter("two\nlines", matches=(Match(),))], "iptables")
    assert "cannot be written" in out and "-A NFACCT" not in out


def test_nft_rules() -> None:
    out = rules.render(decl(GOOD), "nft")
    assert "nftables has no nfacct expression" in out
    assert "\tcounter ipv4.http {}" in out and "\tcounter guest {}" in out
    assert ('meta nfproto ipv4 tcp sport . tcp dport { 0-65535 . 80, 80 . 0-65535 } '
            'counter name "ipv4.http"') in out
    assert 'udp dport 1000-2000 counter name "guest"' in out
    assert 'meta l4proto { icmp, ipv6-icmp } counter name "guest"' in out
    assert "flush chain inet nfacct_exporter input" in out
    assert "# ipv4.http: the quota applies to the NFACCT object only" in out
    odd = rules.render([Counter("web server", matches=(Match(),))], "nft")
    assert "'web server': nft can only declare names" in odd and "counter name" not in odd


@pytest.mark.parametrize("name, ok", [("ipv4.http", True), ("_x/y-z.1", True), ("web server",
                         False), ("ü", False), ("1abc", False), ("", False), ('a"b', False)])
def test_nft_identifier(name: str, ok: bool) -> None:
    assert rules.nft_identifier(name) is ok
