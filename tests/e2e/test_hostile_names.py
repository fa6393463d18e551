"""Hostile names end to end: NFACCT names and NFLOG prefixes made of every byte the kernel and
iptables accept, through the running daemon into a real carbon-cache and /metrics. Carbon logs no
invalid line, every name gets its own whisper files, promtool finds nothing; a flood of fresh
random prefixes leaves memory where the cardinality cap put it."""

import json
import os
import random
import shutil
import subprocess
import time

import pytest

from nfacct_exporter.netlink import nfacct
from nfacct_exporter.netlink.socket import NetfilterSocket
from tests.support.carbon import CARBON_CACHE, PREFIX
from tests.support.exposition import parse_exposition
from tests.support.firewall import TABLE, nft_log
from tests.support.polls import decode_path

pytestmark = pytest.mark.skipif(not shutil.which(CARBON_CACHE), reason="needs graphite-carbon")
NFLOG_PREFIX = "netfilter.nflog"
# every byte but NUL alone, and all of them in runs of 31 (the kernel's longest name)
EVERY_BYTE = [bytes([b]) for b in range(1, 256)] + [
    bytes(range(i, min(i + 31, 256))) for i in range(1, 256, 31)]


def text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def lint(body: str) -> None:
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=body.encode(),
                           capture_output=True)
        assert r.returncode == 0, r.stderr.decode(errors="replace")[:2000]


def stored(carbon, root: str) -> set[str]:  # noqa: ANN001
    """Names under ``root`` with both whisper files, decoded back from their paths."""
    paths = {m for m in carbon.metrics() if m.startswith(root + ".")}
    names = [m[len(root) + 1 :].rsplit(".", 1) for m in paths]
    by_name: dict[str, set[str]] = {}
    for name, suffix in names:
        by_name.setdefault(name, set()).add(suffix)
    return {decode_path(n) for n, s in by_name.items() if s >= {"pkts", "bytes"}}


def test_every_byte_in_names_and_prefixes_reaches_carbon_and_prometheus(ns, carbon, exporter) -> None:  # noqa: ANN001,E501
    sock = ns.call(NetfilterSocket)
    try:
        codes = ns.call(lambda: sock.transact(
            [nfacct.acct_new_request(n, sock.next_seq()) for n in EVERY_BYTE]))
    finally:
        sock.close()
    assert codes == [0] * len(EVERY_BYTE), "the kernel takes every byte but NUL"
    prefixes = [p for p in EVERY_BYTE if len(p) < 64]
    for p in prefixes:  # iptables refuses only a newline; nft takes it
        if b"\n" in p:
            nft_log(ns, "udp", 31601, 9, text(p))
        else:
            ns.run("iptables", "-A", "INPUT", "-p", "udp", "--dport", "31601", "-j", "NFLOG",
                   "--nflog-group", "9", "--nflog-prefix", os.fsdecode(p))
    exp = exporter(f"pollinterval: 1\ngraphite:\n  host: 127.0.0.1\n  port: {carbon.port}\n"
                   "nflog:\n  - group: 9\n    verdict: drop\n    max_prefixes: 1000\n")
    ns.udp("127.0.0.1", 31601, b"e" * 10, count=2)  # each packet logged once by every rule
    names = {text(n) for n in EVERY_BYTE}
    want_prefixes = {text(p) for p in prefixes}

    exp.wait_for(lambda s: len([1 for (m, _) in s if m == "nfacct_packets_total"]) == len(names))
    body = exp.text()
    lint(body)
    s = parse_exposition(body)
    labels = {v for (m, lbl) in s if m == "nfacct_packets_total" for k, v in lbl if k == "name"}
    assert len(labels) == len(names), "every name its own series"
    prom_prefixes = {v for (m, lbl) in s if m == "nflog_packets_total" for k, v in lbl
                     if k == "prefix"}
    deadline = time.monotonic() + 20
    while len(prom_prefixes) < len(want_prefixes) and time.monotonic() < deadline:
        time.sleep(0.5)
        s = parse_exposition(exp.text())
        prom_prefixes = {v for (m, lbl) in s if m == "nflog_packets_total" for k, v in lbl
                         if k == "prefix"}
    assert len(prom_prefixes) == len(want_prefixes), "every prefix its own series"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (stored(carbon, PREFIX) != names or stored(
            carbon, f"{NFLOG_PREFIX}.9.drop") != want_prefixes):
        time.sleep(0.5)
    assert stored(carbon, PREFIX) == names, "every name in its own whisper files"
    assert stored(carbon, f"{NFLOG_PREFIX}.9.drop") == want_prefixes
    assert len(carbon.metrics()) == 2 * len(names) + 2 * len(want_prefixes) + 1  # + lost.pkts
    assert carbon.problems() == []
    lint(exp.text())


def add_prefix_rules(ns, prefixes: list[str], port: int, group: int) -> None:  # noqa: ANN001
    """One nft batch: a log rule per prefix, all on ``port`` (one packet: a message each)."""
    if ns.run("nft", "list", "table", "inet", TABLE, check=False).returncode:
        ns.run("nft", "add", "table", "inet", TABLE)
        ns.run("nft", "add", "chain", "inet", TABLE, "in", "{ type filter hook input priority 0; }")
    match = {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}},
                       "right": port}}
    doc = {"nftables": [{"add": {"rule": {"family": "inet", "table": TABLE, "chain": "in",
                                          "expr": [match, {"log": {"group": group,
                                                                   "prefix": p}}]}}}
                        for p in prefixes]}
    ns.run("nft", "-j", "-f", "-", input=json.dumps(doc))


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def test_flood_of_random_prefixes_stays_within_the_cap(ns, exporter) -> None:  # noqa: ANN001
    exp = exporter("pollinterval: 0.5\nnflog:\n  - group: 11\n    verdict: drop\n"
                   "    max_prefixes: 100\n")
    rng = random.Random(11)
    sizes = []
    for _ in range(5):  # 5 rounds of 1,500 fresh prefixes each
        ns.run("nft", "flush", "ruleset")
        fresh = ["".join(rng.choices("abcdefghij0123456789 .-_/\"\\\n{}=", k=rng.randint(5, 60)))
                 for _ in range(1500)]
        add_prefix_rules(ns, fresh, 31611, 11)
        ns.udp("127.0.0.1", 31611, b"f", count=3)
        exp.wait_for(lambda s: sum(v for (m, _), v in s.items()
                                   if m == "nflog_packets_total") >= 4500 * (len(sizes) + 1),
                     timeout=30)
        sizes.append(rss(exp.proc.pid))
    s = exp.samples()
    series = [lbl for (m, lbl) in s if m == "nflog_packets_total"]
    assert len(series) <= 101, len(series)  # the cap, plus the overflow series
    growth = sizes[-1] - sizes[2]  # measured here: 42.7, 45.5, 47.2, 47.3, 47.6 MiB
    assert growth < 2 << 20, f"RSS grew {growth / 2**20:.1f} MiB after the cap filled: {sizes}"
    assert exp.proc.poll() is None
