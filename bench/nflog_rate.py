#!/usr/bin/env python3
"""NFLOG benchmark: packets/s the exporter counts with zero unaccounted loss, the offered
rate at which loss starts, and the same traffic through ulogd2 in the same run.

One nft rule ``udp dport 31000 counter log prefix "bench" group 7 drop`` in a namespace created
here (deleted at the end, also on Ctrl-C). ``bench/nflog_blast.c`` (compiled with gcc into a temp
dir) sends bounded, paced UDP on 127.0.0.1 inside it. For each offered rate, STEP seconds of
traffic plus one marker packet (so a loss at the very end shows up as a sequence gap too) go to:

* the real exporter (``python3 -m nfacct_exporter``, default NFLOG settings): received and lost
  from its /metrics; unaccounted = sent − received − lost must be 0 at every rate;
* ulogd2 (NFLOG → GPRINT to a file, same receive buffer, queue threshold and timeout), restarted
  per step; received = lines written; it cannot tell lost packets, so all loss is unaccounted.

CPU is the on-CPU time of the whole process (/proc/PID/task/*/schedstat), so the exporter's
figure includes its poller and HTTP threads. Processes are stopped by PID. Needs root, nft, gcc,
ulogd2. Bounded: at most RATE × STEP packets per step; ~2 minutes by default (``--quick``:
~30 s). Run: ``python3 bench/nflog_rate.py`` (appends to bench/RESULTS.md; ``--no-write`` to skip).
"""

import argparse
import os
import re
import shutil
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

from blast import QTHRESHOLD, QTIMEOUT_CS, RCVBUF, BlastLab, wait_idle
from common import (
    ULOGD,
    inside,
    machine,
    ratio,
    sched_seconds,
    scrape,
    start_exporter,
    start_ulogd,
    stop,
    wait_until,
)

HERE = Path(__file__).parent
GROUP, PORT, PREFIX = 7, 31000, "bench"  # the exporter's
ULOGD_GROUP, ULOGD_PORT = 8, 31001  # ulogd2's: the same rule on another port
RATES = [100_000, 200_000, 300_000, 400_000, 500_000, 600_000, 700_000, 800_000, 0]  # 0: unpaced
TARGET = 200_000


class NflogLab(BlastLab):
    """The namespace with the two ``log group`` rules, and the compiled sender."""

    def setup(self) -> None:
        self.sh("nft add table inet b; "
                "nft add chain inet b in '{ type filter hook input priority 0; }'; "
                f"nft add rule inet b in udp dport {PORT} counter log prefix '\"{PREFIX}\"' "
                f"group {GROUP} drop; "
                f"nft add rule inet b in udp dport {ULOGD_PORT} counter log prefix "
                f"'\"{PREFIX}\"' group {ULOGD_GROUP} drop")
        self.compile_sender()


def step_traffic(b: NflogLab, port: int, rate: int, seconds: float) -> tuple[int, float]:
    """The step's traffic, then one marker after a pause; returns (packets sent, send seconds)."""
    count = int((rate or 1_000_000) * seconds)
    sent, took = b.send(port, count, rate)
    time.sleep(0.3)
    marker, _ = b.send(port, 1, 0)
    return sent + marker, took


# --- the exporter -----------------------------------------------------------------------------

def exporter_totals(port: int) -> tuple[int, int, int]:
    """(received, lost, datagrams) as the exporter's /metrics says."""
    text = scrape(port).decode()

    def value(pattern: str) -> int:
        m = re.search("^" + re.escape(pattern) + r" (\d+(?:\.\d*)?(?:e\+\d+)?)$", text, re.M)
        return int(float(m.group(1))) if m else 0
    return (value('nflog_packets_total{group="7",prefix="bench",verdict="drop"}'),
            value('nflog_lost_packets_total{group="7"}'),
            value("nfacct_exporter_nflog_datagrams_total"))


class Exporter:
    """The real exporter process, counting group 7 for the whole run."""

    def __init__(self, b: NflogLab) -> None:
        self.b = b
        self.p, self.port = start_exporter(
            b, f"pollinterval: 0.5\nnflog:\n  - group: {GROUP}\n    verdict: drop\n", timeout=15)

    def step(self, rate: int, seconds: float) -> dict:
        r0, l0, d0 = exporter_totals(self.port)
        cpu0 = sched_seconds(self.p.pid)
        sent, took = step_traffic(self.b, PORT, rate, seconds)
        wait_idle(self.p.pid, 0.4, 30.0)
        time.sleep(1.0)  # one poll after the drain
        r1, l1, d1 = exporter_totals(self.port)
        received, lost = r1 - r0, l1 - l0
        return {"rate": rate, "sent": sent, "took": took, "received": received, "lost": lost,
                "unaccounted": sent - received - lost, "cpu": sched_seconds(self.p.pid) - cpu0,
                "batch": received / max(d1 - d0, 1)}


# --- ulogd2 -------------------------------------------------------------------------------------

ULOGD_SECTIONS = """[log1]
group={group}
netlink_socket_buffer_size={rcvbuf}
netlink_socket_buffer_maxsize={rcvbuf_max}
netlink_qthreshold={qthreshold}
netlink_qtimeout={qtimeout}
[gp1]
file="{d}/gprint.log"
sync=0
"""


def ulogd_step(b: NflogLab, rate: int, seconds: float) -> dict:
    """A fresh ulogd2 on group 8 for one step (stopping it flushes the GPRINT file)."""
    out = b.tmp / "gprint.log"
    out.unlink(missing_ok=True)
    # ulogd applies the size only below maxsize: +1 so it neither stays at the default nor grows
    p = start_ulogd(b, [("log1", "inppkt_NFLOG"), ("gp1", "output_GPRINT")],
                    ULOGD_SECTIONS.format(d=b.tmp, group=ULOGD_GROUP, rcvbuf=RCVBUF,
                                          rcvbuf_max=RCVBUF + 1, qthreshold=QTHRESHOLD,
                                          qtimeout=QTIMEOUT_CS))
    wait_until(lambda: ULOGD_GROUP in b.bound(), 10, "ulogd did not bind", p,
               b.tmp / "ulogd.log")
    cpu0 = sched_seconds(p.pid)
    sent, took = step_traffic(b, ULOGD_PORT, rate, seconds)
    wait_idle(p.pid, 0.4, 30.0)
    cpu = sched_seconds(p.pid) - cpu0
    stop(p, 15)
    with out.open("rb") as f:
        received = sum(1 for _ in f)
    return {"rate": rate, "sent": sent, "took": took, "received": received, "lost": None,
            "unaccounted": sent - received, "cpu": cpu}


def run(b: NflogLab, rates: list[int], seconds: float) -> tuple[list[dict], list[dict]]:
    """Each rate through the exporter, then through ulogd2: background load hits both alike."""
    exporter = Exporter(b)
    exp, ulogd = [], []
    for rate in rates:
        exp.append(exporter.step(rate, seconds))
        print(f"exporter {label(rate):>8}: {row_text(exp[-1])}", flush=True)
        ulogd.append(ulogd_step(b, rate, seconds))
        print(f"ulogd2   {label(rate):>8}: {row_text(ulogd[-1])}", flush=True)
    stop(exporter.p, 15)
    return exp, ulogd


# --- report -------------------------------------------------------------------------------------

def label(rate: int) -> str:
    return f"{rate // 1000}k/s" if rate else "unpaced"


def offered(row: dict) -> float:
    return row["sent"] / row["took"] if row["took"] else 0.0


def row_text(r: dict) -> str:
    lost = "n/a" if r["lost"] is None else f"{r['lost']:,}"
    batch = f" {r['batch']:.0f} pkts/datagram" if "batch" in r else ""
    return (f"offered {offered(r):>9,.0f}/s sent {r['sent']:>9,} received {r['received']:>9,} "
            f"lost {lost:>9} unaccounted {r['unaccounted']:>7,} "
            f"cpu {r['cpu'] / max(r['received'], 1) * 1e6:5.2f} µs/pkt{batch}")


def summary(rows: list[dict]) -> dict:
    clean = [r for r in rows if r["sent"] == r["received"]]
    lossy = [r for r in rows if r["sent"] != r["received"]]
    cpu = sum(r["cpu"] for r in rows)
    return {
        "max_lossless": max((offered(r) for r in clean), default=0.0),
        "loss_starts": min((offered(r) for r in lossy), default=None),
        "unaccounted": sum(r["unaccounted"] for r in rows),
        "capacity": sum(r["received"] for r in rows) / cpu if cpu else 0.0,
    }


def markdown(exp: list[dict], ulogd: list[dict], seconds: float) -> str:
    e, u = summary(exp), summary(ulogd)
    lines = [
        "", f"## NFLOG counting rate — {datetime.now():%Y-%m-%d %H:%M}", "",
        f"Machine: {machine()}, load average {Path('/proc/loadavg').read_text().split()[0]} "
        f"at the end. `python3 bench/nflog_rate.py`: an nft `log group N` rule,",
        f"{seconds:g} s of paced 28-byte UDP datagrams per step + 1 marker, sender and listener",
        "on the same 2 cores; at each rate the exporter's step, then ulogd2's. Exporter: default",
        "NFLOG settings (rcvbuf 8 MiB, qthreshold 1024, qtimeout 0.1 s, 8-byte copy). ulogd2",
        "2.0.8: NFLOG → GPRINT file, same rcvbuf, qthreshold and qtimeout. CPU per packet: the",
        "whole process. Other work on the machine during the run adds noise.", "",
        "| offered pkts/s | exporter received | lost (counted) | unaccounted | µs CPU/pkt "
        "| ulogd2 received | ulogd2 missing | µs CPU/pkt |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for a, b in zip(exp, ulogd, strict=True):
        lines.append(
            f"| {offered(a):,.0f} | {a['received']:,} of {a['sent']:,} | {a['lost']:,} "
            f"| {a['unaccounted']:,} | {a['cpu'] / max(a['received'], 1) * 1e6:.2f} "
            f"| {b['received']:,} of {b['sent']:,} (at {offered(b):,.0f}/s) "
            f"| {b['unaccounted']:,} | {b['cpu'] / max(b['received'], 1) * 1e6:.2f} |")
    ratio = e["max_lossless"] / u["max_lossless"] if u["max_lossless"] else float("inf")
    lines += ["", "At the same target rate the offered rates can differ: the kernel's NFLOG work "
              "runs in the sender's context and differs between the two (ulogd2 keeps the "
              "default ~4 KiB batches and copies whole packets; the exporter asks for 63 KiB "
              "batches and 8 bytes per packet). Compare rows by offered rate."]
    lines += [
        "",
        f"- Exporter: **{e['max_lossless']:,.0f} packets/s counted with no loss at all** "
        f"(target ≥ {TARGET:,}); loss starts at {fmt(e['loss_starts'])} offered; unaccounted "
        f"loss over all steps: **{e['unaccounted']}** (received + lost = sent at every rate); "
        f"capacity {e['capacity']:,.0f} packets per CPU-second.",
        f"- ulogd2: {u['max_lossless']:,.0f} packets/s with no loss; loss starts at "
        f"{fmt(u['loss_starts'])}; capacity {u['capacity']:,.0f} packets per CPU-second; "
        "its losses are silent (nothing counts them).",
        f"- Ratio exporter/ulogd2, lossless rate: {ratio:.2f}; CPU per packet: "
        f"{u['capacity'] / e['capacity'] if e['capacity'] else 0:.2f}× ulogd2's.",
    ]
    return "\n".join(lines) + "\n"


def fmt(rate: float | None) -> str:
    return "no step (none lost)" if rate is None else f"{rate:,.0f}/s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rates, 1 s steps")
    ap.add_argument("--seconds", type=float, default=2.0, help="traffic per step")
    ap.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    args = ap.parse_args()
    rates = [200_000, 400_000, 800_000, 0] if args.quick else RATES
    seconds = 1.0 if args.quick else min(args.seconds, 5.0)  # bounded
    if os.geteuid() != 0 or not shutil.which("gcc") or not Path(ULOGD).exists():
        print("needs root, gcc and ulogd2", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    with inside(NflogLab([f"nflbench-{os.getpid()}"], "nflbench-")) as b:
        b.setup()
        exp, ulogd = run(b, rates, seconds)
    text = markdown(exp, ulogd, seconds)
    print(text)
    e, u = summary(exp), summary(ulogd)
    print(ratio("packets/s counted with no loss, vs ulogd2", e["max_lossless"],
                u["max_lossless"]))
    print(ratio("CPU per packet, vs ulogd2", 1e6 / e["capacity"] if e["capacity"] else 0.0,
                1e6 / u["capacity"] if u["capacity"] else 0.0, " µs"))
    if not args.no_write:
        results = HERE / "RESULTS.md"
        with results.open("a", encoding="utf-8") as f:
            if f.tell() == 0:
                f.write("# Benchmark results\n")
            f.write(text)
    return 0 if summary(exp)["unaccounted"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
