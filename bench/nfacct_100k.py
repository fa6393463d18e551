#!/usr/bin/env python3
"""100,000 NFACCT objects at pollinterval 10: the exporter's CPU with Graphite on and a scrape
every 15 s, against ulogd2 (NFACCT→GRAPHITE, pollinterval 10) on the same objects, same window.

Both daemons run at the same time in a namespace created here (deleted at the end, also on
Ctrl-C), each sending to its own counting TCP sink; the bench scrapes the exporter's /metrics
every 15 s. CPU = utime+stime from /proc/PID/stat over the window. Counters idle (100k rules to
move them would cost more than what is measured). Then, in the same run: the exporter alone (the
two daemons' dumps no longer compete for the 2 cores and their caches), and the kernel's floor:
the system time of one dump of the same objects per pollinterval, read here as the daemon reads
it (32 KiB datagrams; ``nfacct list`` reads smaller ones and costs the kernel more): the
kernel's own dump work, which no reader of the NFACCT list goes below. Needs root, ulogd2.
~5 minutes. Run: ``python3 bench/nfacct_100k.py``.
"""

import argparse
import os
import resource
import signal
import sys
import time

from common import (
    LABEL_RULE,
    PREFIX,
    CountingSink,
    Lab,
    cpu_seconds,
    inside,
    machine,
    memory,
    object_names,
    ratio,
    scrape,
    start_exporter,
    start_ulogd_graphite,
    stop,
)

from nfacct_exporter.netlink import nfacct
from nfacct_exporter.netlink.nfacct_dumper import Dumper
from nfacct_exporter.netlink.socket import NetfilterSocket

T_PCT = 1.0  # ≤ 1 % of one core
SCRAPE_EVERY = 15.0
POLLINTERVAL = 10


def window(procs: dict[str, int], port: int, seconds: float) -> dict[str, float]:
    """CPU % of a core of each process over ``seconds``, scraping the exporter every 15 s."""
    t0 = time.monotonic()
    cpu0 = {k: cpu_seconds(pid) for k, pid in procs.items()}
    scrapes, size = 0, 0
    next_scrape = t0
    while (now := time.monotonic()) < t0 + seconds:
        if now >= next_scrape:
            size = len(scrape(port))
            scrapes += 1
            next_scrape += SCRAPE_EVERY
        time.sleep(min(0.5, max(0.0, min(next_scrape, t0 + seconds) - now)))
    elapsed = time.monotonic() - t0
    out = {f"{k}_pct": 100 * (cpu_seconds(pid) - cpu0[k]) / elapsed for k, pid in procs.items()}
    return {**out, "window_s": elapsed, "scrapes": scrapes, "scrape_bytes": size}


def floor_pct(sock: NetfilterSocket, reps: int = 5) -> float:
    """System CPU % of a core that one dump per pollinterval costs this thread (the kernel's
    dump work, 32 KiB datagrams as the daemon reads them; median of ``reps``)."""
    dumper, costs = Dumper(), []
    dumper(sock)
    for _ in range(reps):
        r0 = resource.getrusage(resource.RUSAGE_THREAD)
        dumper(sock)
        costs.append(resource.getrusage(resource.RUSAGE_THREAD).ru_stime - r0.ru_stime)
    return 100 * sorted(costs)[len(costs) // 2] / POLLINTERVAL


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--window", type=float, default=90.0, help="seconds (several polls)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        return print("needs root (network namespaces, nfacct)", file=sys.stderr) or 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with inside(Lab([f"nf100k-{os.getpid()}"], "nf100k-")) as lab:
        sock = NetfilterSocket()
        t = time.perf_counter()
        for start in range(0, args.objects, 10_000):
            errs = nfacct.create(sock, object_names(start, min(args.objects, start + 10_000)))
            assert not any(errs), f"create failed: {set(errs)}"
        print(f"created {args.objects:,} objects in {time.perf_counter() - t:.0f} s",
              file=sys.stderr)
        ours_sink, ulogd_sink = CountingSink(), CountingSink()
        exporter, port = start_exporter(lab, (
            f"pollinterval: {POLLINTERVAL}\ngraphite:\n  host: 127.0.0.1\n"
            f"  port: {ours_sink.port}\n  prefix: {PREFIX}\nlabels:\n  - match: '{LABEL_RULE}'\n"),
            timeout=120)
        ulogd = start_ulogd_graphite(lab, ulogd_sink.port, pollinterval=POLLINTERVAL)
        time.sleep(POLLINTERVAL + 2)  # warm-up: the first polls, the first scrape's caches
        if ulogd.poll() is not None:
            sys.exit("ulogd exited:\n" + (lab.tmp / "ulogd.log").read_text())
        lines0 = (ours_sink.counts()[0], ulogd_sink.counts()[0])
        res = window({"exporter": exporter.pid, "ulogd2": ulogd.pid}, port, args.window)
        lines1 = (ours_sink.counts()[0], ulogd_sink.counts()[0])
        stop(ulogd)
        alone = window({"exporter": exporter.pid}, port, args.window)
        mem = memory(exporter.pid)
        stop(exporter)
        floor = floor_pct(sock)
        sock.close()
    polls = [(b - a) / (2 * args.objects) for a, b in zip(lines0, lines1, strict=True)]
    ok = "met" if res["exporter_pct"] <= T_PCT else "MISSED"
    print(ratio(f"CPU at {args.objects:,} objects alone, vs the kernel's dump "
                "(its system time)",
                alone["exporter_pct"], floor, " %"))
    print(f"machine: {machine()}\n\n"
          f"| {args.objects:,} objects, pollinterval {POLLINTERVAL}, Graphite on, scrape every "
          f"{SCRAPE_EVERY:.0f} s ({res['window_s']:.0f} s window) | ours | reference | ratio | "
          f"target |\n|---|---|---|---|---|\n"
          f"| CPU, % of one core | {res['exporter_pct']:.2f} % ({polls[0]:.0f} polls, "
          f"{res['scrapes']} scrapes of {res['scrape_bytes'] / 1e6:.1f} MB; RSS "
          f"{mem['VmRSS'] / 2**20:.0f} MiB, peak {mem['VmHWM'] / 2**20:.0f}) | ulogd2 "
          f"{res['ulogd2_pct']:.2f} % ({polls[1]:.0f} polls, no scrapes) | "
          f"{res['exporter_pct'] / max(res['ulogd2_pct'], 1e-9):.2f}× | ≤ {T_PCT} % ({ok}) |\n"
          f"| CPU, % of one core, exporter alone | {alone['exporter_pct']:.2f} % "
          f"({alone['scrapes']} scrapes) | kernel floor: one dump per "
          f"{POLLINTERVAL} s, system time {floor:.2f} % | "
          f"{alone['exporter_pct'] / max(floor, 1e-9):.2f}× the floor | ≤ {T_PCT} % "
          f"({'met' if alone['exporter_pct'] <= T_PCT else 'MISSED'}) |\n")
    print(ratio(f"CPU at {args.objects:,} objects, pollinterval {POLLINTERVAL}, vs ulogd2",
                res["exporter_pct"], res["ulogd2_pct"], " %"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
