"""Every query of the shipped dashboards and alert rules, run by the real servers against the real
exporter in a test namespace, with counters set up by ``counters create``/``counters rules``,
NFLOG rules on two groups and UDP traffic flowing all along:

* PromQL (dashboard panels, variables, alert rules) by a real Prometheus scraping the exporter:
  no query errors, every panel's main query returns data, every rule evaluates cleanly;
* Graphite targets by the real graphite-web (Debian ``graphite-web``) over the whisper files a
  real carbon-cache wrote from the exporter's lines: every target returns points.
"""

import contextlib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.carbon import CARBON_CACHE
from tests.support.dashlib import (
    GRAPHITE_DASHBOARD,
    METRIC,
    PROM_DASHBOARD,
    ROOT,
    alert_exprs,
    load,
    main_targets,
    substitute,
    targets,
    variables,
)
from tests.support.netns import free_port
from tests.support.polls import Traffic
from tests.support.prom import Prometheus
from tests.support.waiting import until

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with graphite-web's `graphite` package
pytestmark = pytest.mark.skipif(not shutil.which("prometheus") or not Path(CARBON_CACHE).exists(),
                                reason="needs Debian prometheus and graphite-carbon")

CONFIG = """\
pollinterval: 0.5
labels:
  - match: '^(?P<family>ipv[46])\\.(?P<app>[^.]+)$'
nft_counters: true
graphite:
  host: 127.0.0.1
  port: {port}
  timeout: 2
nflog:
  - {{group: 1, verdict: accept, qtimeout: 0.05}}
  - {{group: 2, verdict: drop, qtimeout: 0.05}}
counters:
  - name: ipv4.http
    match: {{family: ipv4, protocol: udp, port: 31080}}
  - name: ipv6.http
    match: {{family: ipv6, protocol: udp, port: 31080}}
  - name: ipv4.dns
    match: {{family: ipv4, protocol: udp, dport: 31053}}
  - name: ipv4.quota
    quota: {{bytes: 1000000000}}
    match: {{family: ipv4, protocol: udp, dport: 31077}}  # a rule uses it: no NfacctCounterUnused
"""
LOG = "-p udp --dport {port} -j NFLOG --nflog-group {group} --nflog-prefix '{prefix}'"
NFLOG_RULES = "\n".join([
    "iptables -A INPUT " + LOG.format(port=31022, group=1, prefix="SSH Attempt"),
    "iptables -A INPUT " + LOG.format(port=31099, group=2, prefix="Input IPv4 Default DROP"),
    "iptables -A INPUT -p udp --dport 31099 -j DROP",
    "ip6tables -A INPUT " + LOG.format(port=31099, group=2, prefix="Input IPv6 Default DROP"),
    "ip6tables -A INPUT -p udp --dport 31099 -j DROP",
])
FLOWS = [("127.0.0.1", 31080), ("::1", 31080), ("127.0.0.1", 31053), ("127.0.0.1", 31022),
         ("127.0.0.1", 31099), ("::1", 31099)]


def setup_host(ns, tmp_path: Path, carbon_port: int) -> Path:  # noqa: ANN001
    """What README's walk-through does: declare, create, print and load rules; log with NFLOG."""
    cfg = tmp_path / "setup.yaml"
    cfg.write_text(CONFIG.format(port=carbon_port))
    ns.run(sys.executable, "-m", "nfacct_exporter", "counters", "create", "--config", str(cfg))
    for fmt in ("iptables", "ip6tables"):
        rules = ns.run(sys.executable, "-m", "nfacct_exporter", "counters", "rules", "--config",
                       str(cfg), "--format", fmt).stdout
        (tmp_path / fmt).write_text(rules)
        ns.sh(f"{fmt}-restore --noflush < {tmp_path / fmt}")
    ns.sh(NFLOG_RULES)
    ns.sh("nft add table inet filter && nft add counter inet filter web")
    return cfg


@contextlib.contextmanager
def traffic(ns):  # noqa: ANN001, ANN201
    with contextlib.ExitStack() as stack:
        for host, port in FLOWS:
            stack.enter_context(Traffic(ns, port, period=0.1, host=host))
        yield


def label_values(query: str) -> str:
    """Grafana's ``label_values(selector, label)`` → the PromQL it amounts to."""
    m = re.fullmatch(r"label_values\((.*), *(\w+)\)", query)
    assert m, query
    return f"count by ({m.group(2)}) ({m.group(1)})"


def test_promql_of_dashboard_and_alerts(ns, carbon, exporter, tmp_path) -> None:  # noqa: ANN001
    cfg = setup_host(ns, tmp_path, carbon.port)
    with traffic(ns):
        exp = exporter(cfg.read_text())
        prom = Prometheus(ns, tmp_path, f"127.0.0.1:{exp.port}", free_port(),
                          rule_files=[str(ROOT / "deploy" / "prometheus" / "alerts.yml")])
        # two scrapes with traffic in between: rate() has something to say
        prom.wait_query('rate(nflog_packets_total{verdict="drop"}[1m]) > 0')
        prom.wait_query('rate(nfacct_bytes_total{name="ipv6.http"}[1m]) > 0')
        board = load(PROM_DASHBOARD)
        for panel, _, expr in targets(board, "expr"):  # prom.query asserts success
            assert prom.query(substitute(expr, board)) is not None, panel["title"]
        for panel, expr in main_targets(board, "expr"):
            q = substitute(expr, board)
            result = prom.wait_query(q, timeout=15)
            assert result, f"{panel['title']!r}: {q} returned nothing"
        for var in variables(board).values():
            if var["type"] == "query":
                q = label_values(substitute(var["query"], board))
                assert prom.wait_query(q, timeout=15), f"variable {var['name']}: {q}"
        by_label = {tuple(sorted(r["metric"].items())) for r in prom.query(
            substitute('sum by (family, app) (nfacct_bytes_total{family=~"$family"})', board))}
        assert by_label == {(("app", "http"), ("family", "ipv4")),
                            (("app", "http"), ("family", "ipv6")),
                            (("app", "dns"), ("family", "ipv4")),
                            (("app", "quota"), ("family", "ipv4"))}

        # alert rules: every expression evaluates; every metric they read exists (the quota
        # metrics excepted: only exporters reading quota objects export them); no alert fires
        for name, expr in alert_exprs().items():
            prom.query(expr)
            for metric in set(METRIC.findall(expr)) - {"nfacct_over_quota", "nfacct_quota_bytes",
                                                         "nfacct_quota_packets"}:
                assert prom.query(f"count({metric})"), f"{name}: no series {metric}"
        groups = until(lambda: rule_groups(prom), what="rules evaluated")
        rules = [r for g in groups for r in g["rules"]]
        assert len(rules) == 10
        for r in rules:
            assert r["health"] == "ok" and not r.get("lastError"), r
            assert r["state"] == "inactive", (r["name"], r.get("alerts"))


def rule_groups(prom: Prometheus) -> list[dict] | None:
    status, _, body = prom.ns.http(prom.url + "/api/v1/rules")
    groups = json.loads(body)["data"]["groups"]
    done = groups and all(r["lastEvaluation"] > "2000" for g in groups for r in g["rules"])
    return groups if done else None


@pytest.mark.skipif(not Path(SYSTEM_PYTHON).exists() or subprocess.run(
    [SYSTEM_PYTHON, "-c", "import graphite.render, django"], capture_output=True).returncode,
    reason="needs Debian graphite-web")
def test_graphite_targets_of_dashboard(ns, carbon, exporter, tmp_path) -> None:  # noqa: ANN001
    cfg = setup_host(ns, tmp_path, carbon.port)
    start = time.time()
    board = load(GRAPHITE_DASHBOARD)
    with traffic(ns):
        exporter(cfg.read_text())
        for path in ("netfilter.nfacct.ipv6.http.bytes", "netfilter.nflog.1.accept.SSH%20Attempt"
                     ".pkts", "netfilter.nflog.2.drop.Input%20IPv6%20Default%20DROP.pkts",
                     "netfilter.nflog.2.lost.pkts", "netfilter.nfacct.ipv4.quota.quota",
                     "netfilter.nft.inet.filter.web.bytes"):
            until(lambda p=path: len(carbon.points(p)) >= 5, timeout=20, what=path)
        time.sleep(2)
    carbon.stop()  # flushes its cache: whisper holds every point now
    # the variables' own queries are path globs: each finds some branch of the tree
    for var in variables(board).values():
        if var["type"] == "query":
            glob = substitute(var["query"], board).replace(".", "/")
            assert list(carbon.whisper_dir.glob(glob)), f"variable {var['name']}: {glob}"
    exprs = sorted({substitute(t, board) for _, _, t in targets(board, "target")})
    r = subprocess.run([SYSTEM_PYTHON, str(ROOT / "tests" / "support" / "graphite_eval.py"),
                        str(carbon.whisper_dir), str(start - 5), str(time.time() + 1)],
                       input=json.dumps(exprs), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads(r.stdout)
    for expr in exprs:
        got = results[expr]
        assert "error" not in got, (expr, got)
        assert got["series"] and all(n > 0 for _, n in got["series"]), (expr, got)
    # the aliases are what the panels' legends and colour overrides expect
    verdicts = results["groupByNode(perSecond(netfilter.nflog.*.*.*.pkts), -3, 'sumSeries')"]
    assert {name for name, _ in verdicts["series"]} == {"accept", "drop"}
    per_counter = results["aliasByNode(perSecond(netfilter.nfacct.*.*.pkts), -3, -2)"]
    assert {name for name, _ in per_counter["series"]} == {"ipv4.http", "ipv6.http", "ipv4.dns",
                                                           "ipv4.quota"}
    dropped = results["aliasSub(aliasByNode(perSecond(netfilter.nflog.*.{drop,reject}.*.pkts), "
                      "-3, -2), '%20', ' ')"]
    assert {name for name, _ in dropped["series"]} == {"drop.Input IPv4 Default DROP",
                                                       "drop.Input IPv6 Default DROP"}
