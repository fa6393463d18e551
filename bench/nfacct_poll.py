#!/usr/bin/env python3
"""NFACCT hot path benchmark: the exporter against its references, in one run.

* dump+decode of 1k, 10k and 100k objects (``nfacct_exporter.netlink.nfacct.dump``, the exporter's
  own code) against ``nfacct list`` (fork and exec included, output to /dev/null), interleaved;
* a /metrics scrape of the real exporter process (HTTP GET over loopback) against naive
  prometheus_client rendering of the same samples (a custom collector yielding
  ``CounterMetricFamily`` + ``generate_latest``), interleaved;
* CPU per poll of the real exporter (pollinterval 1, Graphite on) against ulogd2
  (NFACCT→GRAPHITE, zerocounter=0, pollinterval 1), both running at the same time on the same
  objects, each sending to its own counting TCP sink; CPU from /proc/PID/stat over a window,
  once with idle counters and once with every counter changing at every poll; and RSS.

Everything happens in a network namespace created here and deleted at the end (also on Ctrl-C);
processes are stopped by PID. Needs root, nfacct, iptables, ulogd2. Bounded: ~4 minutes with the
defaults, ~1 of them the kernel creating 100k objects (its duplicate-name check is linear);
``--quick --sizes 1000,10000``: ~40 s. Run: ``python3 bench/nfacct_poll.py``.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

from common import (
    LABEL_RULE,
    PREFIX,
    CountingSink,
    Lab,
    cpu_seconds,
    inside,
    interleaved,
    machine,
    median_ms,
    memory,
    object_names,
    ratio,
    sched_seconds,
    scrape,
    start_exporter,
    start_ulogd_graphite,
    stop,
)
from counter_traffic import TRAFFIC_PPS, add_rules, remove_rules, traffic
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric

from nfacct_exporter import naming
from nfacct_exporter.netlink import nfacct
from nfacct_exporter.netlink.nfacct_dumper import Dumper
from nfacct_exporter.netlink.socket import NetfilterSocket

# Targets.
T_DUMP = 1.0  # 10k dump+decode ≤ 1.0 × `nfacct list`
T_CPU = {"counters idle": 0.4, "every counter changing": 0.6}  # pollinterval 1, Graphite, × ulogd2
T_SCRAPE = 0.05  # 10k scrape ≤ 1/20 of naive prometheus_client
T_RSS = 48 * 1024 * 1024


# --- the measurements -------------------------------------------------------------------------

def bench_dump(sock: NetfilterSocket, n: int, reps: int) -> dict[str, float]:
    """Every object decoded (``nfacct.dump``), and the daemon's path on idle counters (one
    ``nfacct_dumper.Dumper`` reused: unchanged datagrams are not decoded again)."""
    got = len(nfacct.dump(sock))
    assert got == n, f"dump returned {got} objects, expected {n}"
    dumper = Dumper()
    assert dumper(sock) == nfacct.dump(sock)
    t = interleaved(
        reps,
        ours=lambda: nfacct.dump(sock),
        reused=lambda: dumper(sock),
        nfacct_list=lambda: subprocess.run(["nfacct", "list"], stdout=subprocess.DEVNULL,
                                           check=True))
    ours, reused, ref = (median_ms(t[k]) for k in ("ours", "reused", "nfacct_list"))
    return {"n": n, "reps": reps, "ours_ms": ours, "reused_ms": reused, "list_ms": ref,
            "ratio": ours / ref}


class NaiveCollector:
    """The naive baseline: every scrape builds CounterMetricFamily objects for every sample."""

    def __init__(self, samples: list[tuple[list[str], int, int]], label_names: list[str]) -> None:
        self.samples = samples
        self.label_names = label_names

    def collect(self) -> Iterator[Metric]:
        pkts = CounterMetricFamily("nfacct_packets", "Packets counted by the NFACCT object.",
                                   labels=self.label_names)
        nbytes = CounterMetricFamily("nfacct_bytes", "Bytes counted by the NFACCT object.",
                                     labels=self.label_names)
        for values, p, b in self.samples:
            pkts.add_metric(values, p)
            nbytes.add_metric(values, b)
        yield pkts
        yield nbytes


def bench_scrape(sock: NetfilterSocket, port: int, reps: int) -> dict[str, float]:
    rules = (naming.regex_rule(LABEL_RULE),)
    names = ["name", "family", "app"]
    samples = []
    for o in nfacct.dump(sock):
        labels = {"name": o.name, **naming.map_labels(rules, o.name)}
        samples.append(([labels.get(k, "") for k in names], o.packets, o.bytes))
    registry = CollectorRegistry()
    registry.register(NaiveCollector(samples, names))
    naive_body = generate_latest(registry)
    body = scrape(port)
    series = body.count(b"\nnfacct_packets_total{")
    assert series == len(samples), f"scrape has {series} series, expected {len(samples)}"
    t = interleaved(reps, ours=lambda: scrape(port), ours_gzip=lambda: scrape(port, gzip=True),
                    naive=lambda: generate_latest(registry))
    ours, gz, naive = (median_ms(t[k]) for k in ("ours", "ours_gzip", "naive"))
    return {"n": len(samples), "reps": reps, "ours_ms": ours, "gzip_ms": gz, "naive_ms": naive,
            "ours_max_ms": 1e3 * max(t["ours"]), "ratio": ours / naive, "ours_bytes": len(body),
            "naive_bytes": len(naive_body)}


def cpu_window(procs: dict[str, tuple[int, CountingSink]], n: int, seconds: float,
               parts: int = 3) -> dict[str, dict[str, float]]:
    """CPU of each process over the same window, and the polls its sink saw in it.

    Also per part of the window (scheduler time, ns precision): the spread of the ratio between
    the processes shows how much of a difference the noisy machine can make.
    """
    def sample() -> dict[str, tuple[float, float, tuple[int, int]]]:
        return {k: (cpu_seconds(pid), sched_seconds(pid), sink.counts())
                for k, (pid, sink) in procs.items()}

    t0 = time.monotonic()
    samples = [sample()]
    for _ in range(parts):
        time.sleep(seconds / parts)
        samples.append(sample())
    elapsed = time.monotonic() - t0
    out = {}
    for k in procs:
        (cpu0, sched0, (lines0, bytes0)), (cpu1, sched1, (lines1, bytes1)) = \
            samples[0][k], samples[-1][k]
        cpu, sched = cpu1 - cpu0, sched1 - sched0
        polls = (lines1 - lines0) / (2 * n)
        out[k] = {"cpu_s": cpu, "sched_s": sched, "window_s": elapsed,
                  "pct": 100 * cpu / elapsed, "sched_pct": 100 * sched / elapsed,
                  "polls": polls, "ms_per_poll": 1e3 * cpu / polls if polls else float("nan"),
                  "bytes_per_poll": (bytes1 - bytes0) / polls if polls else 0.0,
                  "parts_sched_s": [b[k][1] - a[k][1]
                                    for a, b in zip(samples, samples[1:], strict=False)]}
    return out


# --- output -------------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(dumps: list[dict], sc: dict, cpu: dict[str, dict], mem: dict, args: argparse.Namespace,
           sink_first: dict[str, bytes]) -> str:
    lines = [
        f"machine: {machine()}",
        "",
        "| measurement | ours | reference | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for d in dumps:
        target = f"≤ {T_DUMP}× ({verdict(d['ratio'] <= T_DUMP)})" if d["n"] == 10_000 else "-"
        lines.append(f"| dump+decode {d['n']:,} objects (median of {d['reps']}) | "
                     f"{d['ours_ms']:.2f} ms (daemon's path, idle: {d['reused_ms']:.2f} ms) | "
                     f"`nfacct list` {d['list_ms']:.2f} ms | {d['ratio']:.2f}× "
                     f"({d['reused_ms'] / d['list_ms']:.2f}×) | {target} |")
    if sc:
        lines.append(f"| scrape /metrics {sc['n']:,} objects (median of {sc['reps']}) | "
                     f"{sc['ours_ms']:.2f} ms (max {sc['ours_max_ms']:.1f}; "
                     f"{sc['ours_bytes'] / 1e6:.2f} MB; gzip {sc['gzip_ms']:.2f} ms) | "
                     f"naive prometheus_client {sc['naive_ms']:.1f} ms | "
                     f"{sc['ratio']:.3f}× | ≤ {T_SCRAPE}× ({verdict(sc['ratio'] <= T_SCRAPE)}) |")
    for phase, res in cpu.items():
        o, u = res["exporter"], res["ulogd2"]
        r = o["pct"] / u["pct"] if u["pct"] else float("inf")
        parts = [a / b for a, b in zip(o["parts_sched_s"], u["parts_sched_s"], strict=True) if b]
        lines.append(
            f"| CPU, pollinterval 1, Graphite on, {phase} ({o['window_s']:.0f} s window) | "
            f"{o['pct']:.2f} % of a core, {o['ms_per_poll']:.1f} ms/poll "
            f"({o['polls']:.0f} polls; schedstat {o['sched_pct']:.2f} %) | "
            f"ulogd2 {u['pct']:.2f} %, {u['ms_per_poll']:.1f} ms/poll "
            f"({u['polls']:.0f} polls; schedstat {u['sched_pct']:.2f} %) | "
            f"{r:.2f}× (per {o['window_s'] / len(parts):.0f} s: "
            f"{', '.join(f'{p:.2f}' for p in parts)}) | ≤ {T_CPU[phase]}× "
            f"({verdict(r <= T_CPU[phase])}) |")
    if mem:
        lines.append(f"| RSS of the exporter, {args.cpu_objects:,} objects | "
                     f"{mem['VmRSS'] / 2**20:.1f} MiB (peak {mem['VmHWM'] / 2**20:.1f} MiB) | "
                     f"ulogd2 {mem['ulogd_rss'] / 2**20:.1f} MiB | - | "
                     f"≤ {T_RSS >> 20} MiB ({verdict(mem['VmHWM'] <= T_RSS)}) |")
    lines += ["", "Graphite sink: a counting TCP sink on 127.0.0.1 in the namespace (per daemon)."]
    for k, first in sink_first.items():
        lines.append(f"first line received from {k}: `{first.decode(errors='replace').strip()}`")
    lines.append("")
    lines += [ratio(f"dump+decode {d['n']:,} objects vs nfacct list", d["ours_ms"],
                    d["list_ms"], " ms") for d in dumps]
    if sc:
        lines.append(ratio(f"scrape {sc['n']:,} objects vs naive prometheus_client",
                           sc["ours_ms"], sc["naive_ms"], " ms"))
    lines += [ratio(f"CPU per poll, {phase}, vs ulogd2", res["exporter"]["ms_per_poll"],
                    res["ulogd2"]["ms_per_poll"], " ms") for phase, res in cpu.items()]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000", help="object counts for the dump test")
    ap.add_argument("--cpu-objects", type=int, default=10_000, help="objects for scrape and CPU")
    ap.add_argument("--window", type=float, default=30.0, help="CPU window, seconds (per phase)")
    ap.add_argument("--reps", type=int, default=31, help="repetitions for medians (100k: /4)")
    ap.add_argument("--quick", action="store_true", help="short windows, few reps (smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.window, args.reps = 5.0, 7
    if os.geteuid() != 0:
        return print("needs root (network namespaces, nfacct, iptables)", file=sys.stderr) or 2
    sizes = sorted(int(s) for s in args.sizes.split(","))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    dumps: list[dict] = []
    sc: dict = {}
    cpu: dict[str, dict] = {}
    mem: dict = {}
    first: dict[str, bytes] = {}
    # this thread and everything it starts run in the namespace
    with inside(Lab([f"nfbench-{os.getpid()}"], "nfbench-")) as lab:
        sock = NetfilterSocket()
        have = 0
        for n in sorted(set(sizes) | {args.cpu_objects}):
            t = time.perf_counter()
            errs = nfacct.create(sock, object_names(have, n))
            assert not any(errs), f"create failed: {set(errs)}"
            print(f"created {n - have:,} objects in {time.perf_counter() - t:.2f} s "
                  f"(total {n:,})", file=sys.stderr)
            have = n
            if n in sizes:
                reps = max(5, args.reps // 4) if n >= 100_000 else args.reps
                dumps.append(bench_dump(sock, n, reps))
                print(f"  dump {dumps[-1]}", file=sys.stderr)
            if n == args.cpu_objects:
                sc, cpu, mem, first = run_daemons(lab, sock, n, args)
        sock.close()
    print(report(dumps, sc, cpu, mem, args, first))
    return 0


def run_daemons(lab: Lab, sock: NetfilterSocket, n: int, args: argparse.Namespace
                ) -> tuple[dict, dict, dict, dict]:
    """Scrape and CPU phases with both daemons running on the same ``n`` objects."""
    ours_sink, ulogd_sink = CountingSink(), CountingSink()
    exporter, port = start_exporter(lab, (
        f"pollinterval: 1\ngraphite:\n  host: 127.0.0.1\n  port: {ours_sink.port}\n"
        f"  prefix: {PREFIX}\nlabels:\n  - match: '{LABEL_RULE}'\n"))
    ulogd = start_ulogd_graphite(lab, ulogd_sink.port)
    time.sleep(3)  # warm-up: imports, first polls, caches filled
    if ulogd.poll() is not None:
        sys.exit("ulogd exited:\n" + (lab.tmp / "ulogd.log").read_text())
    procs = {"exporter": (exporter.pid, ours_sink), "ulogd2": (ulogd.pid, ulogd_sink)}
    cpu = {"counters idle": cpu_window(procs, n, args.window)}
    print(f"  cpu idle {cpu['counters idle']}", file=sys.stderr)
    add_rules(object_names(0, n))
    with traffic(TRAFFIC_PPS):
        time.sleep(2)
        before = nfacct.dump(sock)
        cpu["every counter changing"] = cpu_window(procs, n, args.window)
        after = nfacct.dump(sock)
    changed = sum(a != b for a, b in zip(before, after, strict=True))
    print(f"  cpu busy {cpu['every counter changing']} ({changed} of {n} changed)",
          file=sys.stderr)
    mem = memory(exporter.pid)
    mem["ulogd_rss"] = memory(ulogd.pid)["VmRSS"]
    stop(ulogd)  # quieter machine for the scrape timings
    sc = bench_scrape(sock, port, args.reps)
    print(f"  scrape {sc}", file=sys.stderr)
    mem["VmHWM"] = memory(exporter.pid)["VmHWM"]
    first = {"exporter": ours_sink.first, "ulogd2": ulogd_sink.first}
    stop(exporter)
    remove_rules()
    ours_sink.close()
    ulogd_sink.close()
    return sc, cpu, mem, first


if __name__ == "__main__":
    sys.exit(main())
