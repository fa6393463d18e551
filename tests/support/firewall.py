"""Firewall set-up for tests and the kernel's own view of it: NFACCT objects with counting
rules, NFLOG log rules (iptables, ip6tables, nft), the kernel's rule counters and NFACCT values
read by its own tools, TCP traffic on loopback, and what /metrics says about NFLOG."""

import json
import re
import socket
import threading
import time

from tests.support.netns import Netns

TABLE = "nfxt"


def counters(ns: Netns, rules: dict[str, int]) -> None:
    """nfacct objects, each counted by an iptables (ipv4.*) or ip6tables rule on a UDP port."""
    for name, port in rules.items():
        ns.run("nfacct", "add", name)
        tool = "ip6tables" if name.startswith("ipv6.") else "iptables"
        ns.run(tool, "-A", "INPUT", "-p", "udp", "--dport", str(port), "-m", "nfacct",
               "--nfacct-name", name)


def kernel_counters(ns: Netns) -> dict[str, tuple[int, int]]:
    """The kernel's NFACCT values read independently, by the ``nfacct`` tool."""
    out = {}
    for line in ns.run("nfacct", "list").stdout.splitlines():
        m = re.match(r"\{ pkts = (\d+), bytes = (\d+)(?:.*)\} = (.*);$", line)
        assert m, line
        out[m.group(3)] = (int(m.group(1)), int(m.group(2)))
    return out


def iptables_log(ns: Netns, tool: str, proto: str, port: int, group: int, prefix: str,
                 extra: tuple[str, ...] = ()) -> None:
    """``-j NFLOG`` on INPUT (argv, no shell: the prefix arrives byte for byte)."""
    ns.run(tool, "-A", "INPUT", "-p", proto, "--dport", str(port), *extra, "-j", "NFLOG",
           "--nflog-group", str(group), "--nflog-prefix", prefix)


def nft_log(ns: Netns, proto: str, port: int, group: int, prefix: str | None,
            family: str = "inet") -> None:
    """An nft ``counter log group N prefix P`` rule, added as JSON (any prefix, newlines too)."""
    if ns.run("nft", "list", "table", family, TABLE, check=False).returncode != 0:
        ns.run("nft", "add", "table", family, TABLE)
        ns.run("nft", "add", "chain", family, TABLE, "in",
               "{ type filter hook input priority 0; }")
    log: dict = {"group": group}
    if prefix is not None:
        log["prefix"] = prefix
    expr = [{"match": {"op": "==", "left": {"payload": {"protocol": proto, "field": "dport"}},
                       "right": port}}, {"counter": None}, {"log": log}]
    doc = {"nftables": [{"add": {"rule": {"family": family, "table": TABLE, "chain": "in",
                                          "expr": expr}}}]}
    ns.run("nft", "-j", "-f", "-", input=json.dumps(doc))


def rule_counters(ns: Netns) -> dict[tuple[int, str], tuple[int, int]]:
    """{(group, prefix): (packets, bytes)} summed over every log rule of every table, read from
    the kernel's rule counters (iptables-nft rules are nft rules with a counter)."""
    ruleset = json.loads(ns.run("nft", "-j", "list", "ruleset").stdout)["nftables"]
    out: dict[tuple[int, str], tuple[int, int]] = {}
    for item in ruleset:
        expr = item.get("rule", {}).get("expr", [])
        logs = [e["log"] for e in expr if "log" in e and "group" in e["log"]]
        counters = [e["counter"] for e in expr if isinstance(e.get("counter"), dict)]
        if logs and counters:
            key = (logs[0]["group"], logs[0].get("prefix", ""))
            p, b = out.get(key, (0, 0))
            out[key] = (p + counters[0]["packets"], b + counters[0]["bytes"])
    return out


def iptables_counters(ns: Netns, tool: str) -> dict[int, tuple[int, int]]:
    """{dport: (packets, bytes)} of NFLOG rules from ``iptables -L -v -x`` (a second reader)."""
    out: dict[int, tuple[int, int]] = {}
    for line in ns.run(tool, "-L", "INPUT", "-v", "-x", "-n").stdout.splitlines():
        m = re.match(r"\s*(\d+)\s+(\d+)\s+NFLOG\s.*\bdpt:(\d+)", line)
        if m:
            p, b = out.get(int(m.group(3)), (0, 0))
            out[int(m.group(3))] = (p + int(m.group(1)), b + int(m.group(2)))
    return out


def tcp_exchange(ns: Netns, port: int, connections: int, rounds: int) -> None:
    """Real TCP connections on 127.0.0.1: connect, echo ``rounds`` times, close."""
    def run() -> None:
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", port))
        srv.listen()

        def serve() -> None:
            for _ in range(connections):
                c, _ = srv.accept()
                while data := c.recv(1000):
                    c.sendall(data)
                c.close()
        t = threading.Thread(target=serve)
        t.start()
        for _ in range(connections):
            with socket.create_connection(("127.0.0.1", port)) as c:
                for _ in range(rounds):
                    c.sendall(b"x" * 100)
                    c.recv(1000)
        t.join()
        srv.close()
    ns.call(run)


def nflog_series(samples: dict) -> dict[tuple[int, str, str], tuple[int, int]]:
    """{(group, prefix, verdict): (packets, bytes)} from parsed /metrics."""
    out: dict[tuple[int, str, str], list[int]] = {}
    for (metric, labels), value in samples.items():
        if metric in ("nflog_packets_total", "nflog_bytes_total"):
            lbl = dict(labels)
            key = (int(lbl["group"]), lbl.get("prefix", ""), lbl["verdict"])
            out.setdefault(key, [0, 0])[metric == "nflog_bytes_total"] = int(value)
    return {k: (v[0], v[1]) for k, v in out.items()}


def per_group(samples: dict, metric: str) -> dict[int, int]:
    return {int(dict(lbl)["group"]): int(v) for (m, lbl), v in samples.items() if m == metric}


def settle(fn, timeout: float = 10.0, quiet: float = 0.5):  # noqa: ANN001, ANN201
    """Call ``fn`` until its value stays the same for ``quiet`` seconds; return it."""
    deadline = time.monotonic() + timeout
    last, since = fn(), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, f"still changing: {last}"
        time.sleep(0.1)
        now = fn()
        if now != last:
            last, since = now, time.monotonic()
    return last


def bound_groups(ns: Netns) -> set[int]:
    """NFLOG groups bound in ``ns``, as the kernel lists them (one line per instance)."""
    text = ns.run("cat", "/proc/net/netfilter/nfnetlink_log").stdout
    return {int(line.split()[0]) for line in text.splitlines() if line.strip()}
