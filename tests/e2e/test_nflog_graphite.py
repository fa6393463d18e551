"""NFLOG → a real carbon-cache, in a test namespace: whisper holds the exact per-prefix counts,
every log prefix (hostile ones, empty, overflow) is one valid, distinct, decodable path, beside
the NFACCT lines of the same polls."""

import re
import shutil
import urllib.parse

import pytest

from tests.support.carbon import CARBON_CACHE
from tests.support.firewall import iptables_log, nflog_series, nft_log
from tests.support.waiting import until

pytestmark = pytest.mark.skipif(not shutil.which(CARBON_CACHE), reason="needs graphite-carbon")

PREFIXES = ["SSH Attempt", "SSH_Attempt", 'q"uote', "back\\slash", "ünï.cødé", "~empty",
            "%41", "a;b=c", "new\nline"]


def test_whisper_holds_exact_counts_under_distinct_paths(ns, carbon, exporter) -> None:  # noqa: ANN001
    for i, prefix in enumerate(PREFIXES):
        nft_log(ns, "udp", 31600 + i, 2, prefix)
    nft_log(ns, "udp", 31650, 2, "")
    iptables_log(ns, "iptables", "udp", 31651, 3, "Input IPv4 Default DROP")
    for i in range(3):
        nft_log(ns, "udp", 31660 + i, 4, f"over{i}")
    ns.run("nfacct", "add", "ipv4.dns")
    ns.run("iptables", "-A", "INPUT", "-p", "udp", "--dport", "31651", "-m", "nfacct",
           "--nfacct-name", "ipv4.dns")
    exp = exporter(f"""\
pollinterval: 0.5
graphite:
  host: 127.0.0.1
  port: {carbon.port}
  nflog_prefix: fw.nflog
nflog:
  - group: 2
    verdict: accept
  - group: 3
    verdict: drop
  - group: 4
    verdict: reject
    max_prefixes: 1
""")
    for i in range(len(PREFIXES)):
        ns.udp("127.0.0.1", 31600 + i, b"p" * i, count=i + 1)
    ns.udp("127.0.0.1", 31650, b"", count=2)
    ns.udp("127.0.0.1", 31651, b"d" * 12, count=6)
    for i in range(3):
        ns.udp("::1", 31660 + i, b"", count=1)
    want_series = {(2, p, "accept"): (i + 1, (i + 1) * (28 + i)) for i, p in enumerate(PREFIXES)}
    want_series[(2, "", "accept")] = (2, 56)
    want_series[(3, "Input IPv4 Default DROP", "drop")] = (6, 6 * 40)
    exp.wait_for(lambda s: all(nflog_series(s).get(k) == v for k, v in want_series.items()))

    for (group, prefix, verdict), (pkts, nbytes) in want_series.items():
        part = "~empty" if prefix == "" else escape(prefix)
        carbon.wait_value(f"fw.nflog.{group}.{verdict}.{part}.pkts", pkts)
        carbon.wait_value(f"fw.nflog.{group}.{verdict}.{part}.bytes", nbytes)
    carbon.wait_value("fw.nflog.4.reject.over0.pkts", 1)
    carbon.wait_value("fw.nflog.4.reject.~overflow.pkts", 2)
    carbon.wait_value("fw.nflog.4.reject.~overflow.bytes", 2 * 48)
    carbon.wait_value("fw.nflog.3.lost.pkts", 0)
    carbon.wait_value("netfilter.nfacct.ipv4.dns.pkts", 6)  # NFACCT lines of the same polls

    def group2() -> set[str]:
        return {m.rsplit(".", 1)[0] for m in carbon.metrics() if m.startswith("fw.nflog.2.accept.")}
    paths = until(lambda: len(group2()) == len(PREFIXES) + 1 and group2(), what="whisper files")
    decoded = {decode(p.split(".")[-1]) for p in paths}
    assert decoded == set(PREFIXES) | {""} and len(paths) == len(PREFIXES) + 1
    for p in carbon.metrics():
        assert re.fullmatch(r"[A-Za-z0-9_%.~-]+", p), p
    assert carbon.problems() == []


def escape(prefix: str) -> str:
    """README's rule written out independently: keep [A-Za-z0-9_-], every other byte %XX."""
    return "".join(chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "_-")
                   else f"%{b:02X}" for b in prefix.encode())


def decode(part: str) -> str:
    return "" if part == "~empty" else urllib.parse.unquote_to_bytes(part).decode()
