#!/usr/bin/env python3
"""Namespaces benchmark: one exporter reading 20 network namespaces × 500 NFACCT objects each.

The real exporter process (``python3 -m nfacct_exporter``, pollinterval 1, ``namespaces:`` the 20
names) runs in a namespace of its own; once without Graphite, once with
Graphite to a counting TCP sink in its namespace. Over a window (30 s by default), every second:

* one GET /metrics from inside the exporter's namespace, which gives the duration of the last
  poll (``nfacct_exporter_poll_duration_seconds``, one sample per distinct poll timestamp);
* the reference: ``ip netns exec NS nfacct list`` once in each of the 20 namespaces (20 forks,
  output to /dev/null), CPU from ``os.wait4``'s rusage; and, to show how much of that is the
  ``ip netns exec`` wrapper, ``nfacct list`` forked straight into each namespace (setns first).

The exporter's CPU comes from /proc/PID/stat (utime + stime of all its threads) over the same
window, so it includes serving those 1-per-second full scrapes. Also printed: RSS, the series
served, the machine's total CPU use in the window (other work on the machine is noise), and a
correctness check: ``nfacct_exporter_objects`` and the series add up to 20 × 500, every series
carries the ``netns`` of its namespace (each namespace has one object named after it, the other
499 names are the same in every namespace).

Namespaces are named ``nfnsb<PID>-…``, created here and deleted at the end (also on Ctrl-C,
SIGTERM or the time limit); processes are stopped by PID. Needs root, nfacct, iproute2.
~70 s with the defaults, hard limit ``--timeout``. Run: ``python3 bench/namespaces_poll.py``.
"""

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import (
    LABEL_RULE,
    PREFIX,
    CountingSink,
    Lab,
    cpu_seconds,
    machine,
    memory,
    object_names,
    ratio,
    scrape,
    start_exporter,
    stop,
)
from namespaces_check import check

from nfacct_exporter.netlink import netns as _netns
from nfacct_exporter.netlink import nfacct
from nfacct_exporter.netlink.socket import NetfilterSocket

_DURATION = re.compile(rb"^nfacct_exporter_poll_duration_seconds (\S+)$", re.M)
_POLL_TIME = re.compile(rb"^nfacct_exporter_last_poll_timestamp_seconds (\S+)$", re.M)


class BenchTimeout(Exception):
    pass


class NsBench(Lab):
    """The exporter's namespace plus the ``count`` namespaces it reads, all named
    ``nfnsb<PID>-…``, and the reference process running now (killed on close)."""

    def __init__(self, count: int) -> None:
        prefix = f"nfnsb{os.getpid()}"
        self.names = [f"{prefix}-{i:02d}" for i in range(count)]
        self.child: int | None = None  # the reference process running now, not yet reaped
        super().__init__([f"{prefix}-exporter", *self.names], "nfnsbench-")

    def close(self) -> None:
        if self.child is not None:  # a reference interrupted by the time limit or a signal
            os.kill(self.child, signal.SIGKILL)
            os.waitpid(self.child, 0)
            self.child = None
        super().close()

    def timed(self, argv: list[str], netns: str | None = None) -> float:
        """Run ``argv`` (forked in ``netns``), wait for it; its CPU seconds (rusage)."""
        with _netns.entered(netns):
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.child = p.pid
        _, status, ru = os.wait4(p.pid, 0)
        self.child = None
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            raise RuntimeError(f"{argv} exited {p.returncode}")
        return ru.ru_utime + ru.ru_stime


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    tck = os.sysconf("SC_CLK_TCK")
    return (total - idle) / tck, total / tck


def create_objects(bench: NsBench, per_ns: int) -> dict[str, set[str]]:
    """``per_ns`` objects in each namespace: the same ``per_ns - 1`` names everywhere, plus one
    named after the namespace (``owner.<ns>``) that shows which namespace a series came from."""
    expected = {}
    t = time.perf_counter()
    for ns in bench.names:
        names = [*object_names(0, per_ns - 1), f"owner.{ns}"]
        sock = NetfilterSocket(ns)
        try:
            errs = nfacct.create(sock, names)
            assert not any(errs), f"create in {ns} failed: {set(errs)}"
            got = len(nfacct.dump(sock))
            assert got == per_ns, f"{ns} holds {got} objects, expected {per_ns}"
        finally:
            sock.close()
        expected[ns] = set(names)
    print(f"created {len(bench.names)} × {per_ns} objects in {time.perf_counter() - t:.2f} s",
          file=sys.stderr)
    return expected


def start(bench: NsBench, run: str, sink: CountingSink | None) -> tuple[int, int]:
    """The exporter in its namespace reading the others; (PID, port)."""
    text = "pollinterval: 1\nnamespaces:\n" + "".join(f"  - {ns}\n" for ns in bench.names)
    text += f"labels:\n  - match: '{LABEL_RULE}'\n"
    if sink is not None:
        text += f"graphite:\n  host: 127.0.0.1\n  port: {sink.port}\n  prefix: {PREFIX}\n"
    p, port = start_exporter(bench, text, f"exporter-{run}", timeout=60)
    return p.pid, port


def window(bench: NsBench, pid: int, port: int, seconds: int, sink: CountingSink | None
           ) -> dict:
    """``seconds`` ticks of: one scrape, 20 × ``ip netns exec nfacct list``, 20 × ``nfacct list``
    forked into the namespace; CPU of the exporter and of the references over the same window."""
    durations: dict[float, float] = {}  # poll timestamp → its duration
    ref_ip: list[float] = []  # CPU s per round of 20
    ref_bare: list[float] = []
    wall_ip: list[float] = []  # wall s per round of 20
    cpu_parts: list[float] = []  # exporter CPU s per tick
    sizes: list[int] = []
    lines0 = sink.counts()[0] if sink else 0
    busy0 = machine_busy()
    load0 = os.getloadavg()[0]
    cpu0 = cpu_seconds(pid)
    t0 = time.monotonic()
    last = cpu0
    for k in range(seconds):
        time.sleep(max(0.0, t0 + k - time.monotonic()))
        body = scrape(port)
        sizes.append(len(body))
        d, ts = _DURATION.search(body), _POLL_TIME.search(body)
        if d and ts:
            durations[float(ts.group(1))] = float(d.group(1))
        t = time.perf_counter()
        ref_ip.append(sum(bench.timed(["ip", "netns", "exec", ns, "nfacct", "list"])
                          for ns in bench.names))
        wall_ip.append(time.perf_counter() - t)
        ref_bare.append(sum(bench.timed(["nfacct", "list"], ns) for ns in bench.names))
        c = cpu_seconds(pid)
        cpu_parts.append(c - last)
        last = c
    time.sleep(max(0.0, t0 + seconds - time.monotonic()))
    cpu1 = cpu_seconds(pid)
    elapsed = time.monotonic() - t0
    busy1 = machine_busy()
    lines1 = sink.counts()[0] if sink else 0
    mem = memory(pid)
    cpu = cpu1 - cpu0
    polls = sorted(durations.values())
    thirds = [slice(i * seconds // 3, (i + 1) * seconds // 3) for i in range(3)]
    return {
        "elapsed": elapsed, "cpu_s": cpu, "pct": 100 * cpu / elapsed,
        "polls_seen": len(polls), "poll_median_ms": 1e3 * statistics.median(polls),
        "poll_max_ms": 1e3 * max(polls), "rss": mem["VmRSS"], "hwm": mem["VmHWM"],
        "body_bytes": statistics.median(sizes),
        "ref_ip_pct": 100 * sum(ref_ip) / elapsed, "ref_bare_pct": 100 * sum(ref_bare) / elapsed,
        "ref_rounds": len(ref_ip), "ref_ip_wall_ms": 1e3 * statistics.median(wall_ip),
        "ref_ip_max_ms": 1e3 * max(wall_ip),
        "ratio_ip": cpu / sum(ref_ip), "ratio_bare": cpu / sum(ref_bare),
        "ratio_ip_thirds": [sum(cpu_parts[p]) / sum(ref_ip[p]) for p in thirds],
        "machine_pct": 100 * (busy1[0] - busy0[0]) / (busy1[1] - busy0[1]) * os.cpu_count(),
        "load": (load0, os.getloadavg()[0]),
        "graphite_lines": lines1 - lines0,
    }


def run(bench: NsBench, name: str, graphite: bool, args: argparse.Namespace,
        expected: dict[str, set[str]]) -> dict:
    sink = CountingSink() if graphite else None  # bound in the exporter's namespace
    try:
        pid, port = start(bench, name, sink)
        time.sleep(args.warmup)  # first polls, label and template caches filled
        body = scrape(port)
        res = {"check": check(body, expected),
               "lines": sum(1 for line in body.split(b"\n") if line and line[:1] != b"#")}
        print(f"  {name}: check {res['check']}", file=sys.stderr)
        res.update(window(bench, pid, port, args.window, sink))
        if sink is not None:
            res["first_line"] = sink.first.decode(errors="replace").strip()
        print(f"  {name}: exporter {res['pct']:.1f} %, poll {res['poll_median_ms']:.1f} ms, "
              f"reference {res['ref_ip_pct']:.1f} %", file=sys.stderr)
        stop(bench.procs[-1])
        return res
    finally:
        if sink is not None:
            sink.close()


def report(results: dict[str, dict], args: argparse.Namespace, n_ns: int) -> str:
    n = n_ns * args.objects
    out = [
        f"machine: {machine()}",
        f"{n_ns} namespaces × {args.objects} objects, pollinterval 1, {args.window} s windows",
        "",
        "| run | exporter CPU, % of a core | poll duration median / max (polls seen) | RSS (peak) "
        f"| series served | `ip netns exec … nfacct list` × {n_ns}/s: CPU % (wall per round) "
        f"| exporter / that | `nfacct list` forked into the ns × {n_ns}/s: CPU % "
        "| exporter / that "
        "| whole machine busy, % of a core (load avg) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        c = r["check"]
        series = (f"{r['lines']:,} samples ({c['series_packets']:,} packets + "
                  f"{c['series_bytes']:,} bytes series), {r['body_bytes'] / 1e6:.2f} MB")
        if r.get("first_line"):
            series += f"; {r['graphite_lines'] / r['elapsed']:,.0f} Graphite lines/s"
        thirds = ", ".join(f"{x:.2f}" for x in r["ratio_ip_thirds"])
        out.append(
            f"| {name} | {r['pct']:.1f} % ({10 * r['pct']:.0f} ms/s) | "
            f"{r['poll_median_ms']:.1f} / {r['poll_max_ms']:.1f} ms ({r['polls_seen']}) | "
            f"{r['rss'] / 2**20:.1f} MiB ({r['hwm'] / 2**20:.1f}) | {series} | "
            f"{r['ref_ip_pct']:.1f} % ({r['ref_ip_wall_ms']:.0f} ms, max "
            f"{r['ref_ip_max_ms']:.0f}) | {r['ratio_ip']:.2f}× (thirds: {thirds}) | "
            f"{r['ref_bare_pct']:.1f} % | {r['ratio_bare']:.2f}× | "
            f"{r['machine_pct']:.0f} % ({r['load'][0]:.2f} → {r['load'][1]:.2f}) |")
    out.append("")
    for name, r in results.items():
        c = r["check"]
        verdict = "OK" if c["ok"] else "FAILED: " + "; ".join(c["problems"])
        out.append(f"correctness ({name}): {verdict}: nfacct_exporter_objects over the "
                   f"{c['namespaces']} labelled namespaces = {c['objects']:,.0f} (expected "
                   f"{n:,}), other namespaces {c['others']}")
        if r.get("first_line"):
            out.append(f"first Graphite line ({name}): `{r['first_line']}`")
    out.append("")
    for name, r in results.items():
        out.append(ratio(f"{name}: CPU vs `ip netns exec … nfacct list` × {n_ns}/s", r["pct"],
                         r["ref_ip_pct"], " % of a core"))
        out.append(ratio(f"{name}: CPU vs `nfacct list` forked into each ns × {n_ns}/s",
                         r["pct"], r["ref_bare_pct"], " % of a core"))
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--namespaces", type=int, default=20)
    ap.add_argument("--objects", type=int, default=500, help="objects per namespace")
    ap.add_argument("--window", type=int, default=30, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--runs", default="prometheus only,with Graphite",
                    help="comma-separated: 'prometheus only', 'with Graphite'")
    ap.add_argument("--timeout", type=int, default=300, help="hard limit for the whole bench, s")
    args = ap.parse_args()
    if os.geteuid() != 0:
        return print("needs root (network namespaces, nfacct)", file=sys.stderr) or 2

    def timeout(*_: object) -> None:
        raise BenchTimeout(f"bench exceeded --timeout {args.timeout} s")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGALRM, timeout)
    signal.alarm(args.timeout)
    results: dict[str, dict] = {}
    bench = NsBench(args.namespaces)
    try:
        expected = create_objects(bench, args.objects)
        with _netns.entered(bench.ns):  # scrapes and the Graphite sink: in the exporter's ns
            for name in (r.strip() for r in args.runs.split(",")):
                results[name] = run(bench, name, "graphite" in name.lower(), args, expected)
    finally:
        signal.alarm(0)
        bench.close()
    print(report(results, args, args.namespaces))
    return 0 if all(r["check"]["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
