#!/usr/bin/env python3
"""NFLOG events benchmark: events/s the exporter writes as JSON lines with zero unaccounted loss
(written + dropped + kernel-lost = sent), against ulogd2's JSON stack in the same run.

Three nft rules ``udp dport P counter log prefix "bench" group G drop`` in a namespace created
here (deleted at the end, also on Ctrl-C): group 7 is the exporter's with ``events: {file: ...}``,
group 9 the exporter's counting-only group, group 8 ulogd2's (NFLOG → BASE → IFINDEX → IP2STR →
JSON file, boolean_label=1, the same receive buffer and batching). ``bench/nflog_blast.c``
(compiled with gcc into a temp dir) sends bounded, paced 28-byte UDP datagrams. For each offered
rate, STEP seconds of traffic go to the exporter's events group, then to ulogd2 (restarted per
step); a last step floods the events group while paced traffic goes to the counting-only group,
whose received + lost must equal sent. The ladder goes past where each one breaks; the unpaced
step also gives the sustained throughput (written / time from the first packet until the
process is idle). Needs root, gcc, ulogd2 and ulogd2-json. Bounded: at most RATE × STEP packets
per step; ~2 minutes (``--quick``: ~30 s). Run:
``python3 bench/nflog_events.py`` (appends to bench/RESULTS.md; ``--no-write`` to skip).
"""

import argparse
import os
import re
import shutil
import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from blast import QTHRESHOLD, QTIMEOUT_CS, RCVBUF, BlastLab, wait_idle
from common import (
    ULOGD,
    ULOGD_PLUGINS,
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
EVENTS, ULOGD_GROUP, COUNTING = 7, 8, 9
PORTS = {EVENTS: 31100, ULOGD_GROUP: 31101, COUNTING: 31102}
RATES = [50_000, 100_000, 150_000, 200_000, 250_000, 300_000, 0]  # 0: unpaced
QUICK_RATES = [100_000, 200_000, 0]
COUNTING_RATE = 200_000


class EventsLab(BlastLab):
    def setup(self) -> None:
        script = ["nft add table inet b",
                  "nft add chain inet b in '{ type filter hook input priority 0; }'"]
        script += [f"nft add rule inet b in udp dport {port} counter log prefix '\"bench\"' "
                   f"group {g} drop" for g, port in PORTS.items()]
        self.sh("; ".join(script))
        self.compile_sender()


def lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


# --- the exporter -----------------------------------------------------------------------------

def metric(text: str, name: str, **labels: str) -> int:
    sel = ",".join(f'{k}="{v}"' for k, v in labels.items())
    total = 0
    for m in re.finditer("^" + re.escape(name) + r"\{([^}]*)\} (\S+)$", text, re.M):
        if all(f'{k}="{v}"' in m.group(1) for k, v in labels.items()) or not sel:
            total += int(float(m.group(2)))
    return total


class Exporter:
    def __init__(self, b: EventsLab) -> None:
        self.b = b
        self.file = b.tmp / "events.json"
        self.p, self.port = start_exporter(b, f"""pollinterval: 0.5
nflog:
  - group: {EVENTS}
    verdict: drop
    events:
      file: {self.file}
  - group: {COUNTING}
    verdict: drop
""", timeout=15)

    def totals(self) -> dict:
        text = scrape(self.port).decode()
        g, c = str(EVENTS), str(COUNTING)
        return {"written": metric(text, "nflog_events_written_total", group=g),
                "dropped": metric(text, "nflog_events_dropped_total", group=g),
                "lost": metric(text, "nflog_lost_packets_total", group=g),
                "received": metric(text, "nflog_packets_total", group=g),
                "count_received": metric(text, "nflog_packets_total", group=c),
                "count_lost": metric(text, "nflog_lost_packets_total", group=c)}

    def step(self, rate: int, seconds: float, counting: bool = False) -> dict:
        if self.file.exists():  # as logrotate's copytruncate: each step starts with an empty
            os.truncate(self.file, 0)  # file, as ulogd2's (a file of GBs slows writes down)
        t0, cpu0 = self.totals(), sched_seconds(self.p.pid)
        count = int((rate or 1_000_000) * seconds)
        side: dict = {}
        if counting:  # the counting-only group gets paced traffic at the same time
            def paced() -> None:
                side["sent"], _ = self.b.send(PORTS[COUNTING], int(COUNTING_RATE * seconds),
                                              COUNTING_RATE)
            th = threading.Thread(target=paced)
            th.start()
        start = time.monotonic()
        sent, took = self.b.send(PORTS[EVENTS], count, rate)
        if counting:
            th.join()
        busy = wait_idle(self.p.pid, 0.5, 60.0) - start
        time.sleep(1.0)  # one poll after the drain
        t1 = self.totals()
        d = {k: t1[k] - t0[k] for k in t0}
        row = {"rate": rate, "sent": sent, "took": took, "written": d["written"],
               "dropped": d["dropped"], "lost": d["lost"],
               "unaccounted": sent - d["written"] - d["dropped"] - d["lost"],
               "cpu": sched_seconds(self.p.pid) - cpu0, "busy": busy, "file": lines(self.file)}
        if counting:
            row["counting"] = {"sent": side["sent"], "received": d["count_received"],
                               "lost": d["count_lost"]}
        return row


# --- ulogd2 -------------------------------------------------------------------------------------

STACK = [("log1", "inppkt_NFLOG"), ("base1", "raw2packet_BASE"), ("ifi1", "filter_IFINDEX"),
         ("ip2str1", "filter_IP2STR"), ("json1", "output_JSON")]
SECTIONS = """[log1]
group={group}
numeric_label=0
netlink_socket_buffer_size={rcvbuf}
netlink_socket_buffer_maxsize={rcvbuf_max}
netlink_qthreshold={qthreshold}
netlink_qtimeout={qtimeout}
[json1]
file="{out}"
sync=0
boolean_label=1
"""


def ulogd_step(b: EventsLab, rate: int, seconds: float) -> dict:
    out = b.tmp / "ulogd.json"
    out.unlink(missing_ok=True)
    p = start_ulogd(b, STACK, SECTIONS.format(group=ULOGD_GROUP, rcvbuf=RCVBUF,
                                              rcvbuf_max=RCVBUF + 1, qthreshold=QTHRESHOLD,
                                              qtimeout=QTIMEOUT_CS, out=out))
    wait_until(lambda: ULOGD_GROUP in b.bound(), 10, "ulogd did not bind", p,
               b.tmp / "ulogd.log")
    cpu0, start = sched_seconds(p.pid), time.monotonic()
    sent, took = b.send(PORTS[ULOGD_GROUP], int((rate or 1_000_000) * seconds), rate)
    busy = wait_idle(p.pid, 0.5, 60.0) - start
    cpu = sched_seconds(p.pid) - cpu0
    stop(p, 15)  # flushes the JSON file
    written = lines(out)
    return {"rate": rate, "sent": sent, "took": took, "written": written, "dropped": None,
            "lost": None, "unaccounted": sent - written, "cpu": cpu, "busy": busy}


# --- report -------------------------------------------------------------------------------------

def offered(r: dict) -> float:
    return r["sent"] / r["took"] if r["took"] else 0.0


def label(rate: int) -> str:
    return f"{rate // 1000}k/s" if rate else "unpaced"


def sustained(r: dict) -> float:
    return r["written"] / r["busy"] if r["busy"] > 0 else 0.0


def row_text(r: dict) -> str:
    extra = "" if r["dropped"] is None else f" dropped {r['dropped']:,} lost {r['lost']:,}"
    return (f"offered {offered(r):>9,.0f}/s sent {r['sent']:>9,} written {r['written']:>9,}"
            f"{extra} unaccounted {r['unaccounted']:,} "
            f"cpu {r['cpu'] / max(r['written'], 1) * 1e6:5.2f} µs/event, "
            f"{sustained(r):,.0f} written/s over {r['busy']:.1f} s")


def max_lossless(rows: list[dict]) -> float:
    return max((offered(r) for r in rows if r["written"] == r["sent"]), default=0.0)


def markdown(exp: list[dict], ul: list[dict], flood: dict, seconds: float) -> str:
    out = ["", f"## NFLOG events rate — {datetime.now():%Y-%m-%d %H:%M}", "",
           f"Machine: {machine()}, load average {Path('/proc/loadavg').read_text().split()[0]} "
           "at the end. `python3 bench/nflog_events.py`: an nft `log group N` rule per consumer,",
           f"{seconds:g} s of paced 28-byte UDP datagrams per step; at each rate the exporter's "
           "step (events to a file, format ulogd), then ulogd2's (NFLOG → BASE → IFINDEX → "
           "IP2STR → JSON file). Written = lines in the file.", "",
           "| offered pkts/s | exporter written | dropped (counted) | lost (counted) "
           "| unaccounted | µs CPU/event | ulogd2 written | ulogd2 missing | µs CPU/event |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for a, u in zip(exp, ul, strict=True):
        out.append(f"| {offered(a):,.0f} | {a['written']:,} of {a['sent']:,} | {a['dropped']:,} "
                   f"| {a['lost']:,} | {a['unaccounted']:,} "
                   f"| {a['cpu'] / max(a['written'], 1) * 1e6:.2f} "
                   f"| {u['written']:,} of {u['sent']:,} (at {offered(u):,.0f}/s) "
                   f"| {u['unaccounted']:,} | {u['cpu'] / max(u['written'], 1) * 1e6:.2f} |")
    c = flood["counting"]
    e, r = max_lossless(exp), max_lossless(ul)
    se, su = sustained(exp[-1]), sustained(ul[-1])
    out += ["", f"- Exporter: **{e:,.0f} events/s written with no loss at all**; unaccounted "
            f"over all steps: **{sum(x['unaccounted'] for x in exp + [flood])}**.",
            f"- ulogd2: {r:,.0f} events/s with no loss; its losses are silent.",
            f"- Ratio exporter/ulogd2, lossless events/s: {e / r if r else float('inf'):.2f}.",
            f"- Sustained, unpaced: exporter {se:,.0f} written/s ({exp[-1]['written']:,} in "
            f"{exp[-1]['busy']:.1f} s), ulogd2 {su:,.0f}/s ({ul[-1]['written']:,} in "
            f"{ul[-1]['busy']:.1f} s): ratio {se / su if su else float('inf'):.2f}.",
            f"- Counting-only group during an unpaced flood of the events group "
            f"({flood['written']:,} written, {flood['dropped']:,} dropped, {flood['lost']:,} "
            f"lost): {c['received']:,} received + {c['lost']:,} lost of {c['sent']:,} sent at "
            f"{COUNTING_RATE:,}/s."]
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rates, 1 s steps")
    ap.add_argument("--seconds", type=float, help="seconds per step (default 3, quick 1)")
    ap.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    args = ap.parse_args()
    rates = QUICK_RATES if args.quick else RATES
    seconds = args.seconds or (1.0 if args.quick else 3.0)
    if (os.geteuid() != 0 or not shutil.which("gcc") or not Path(ULOGD).exists()
            or not Path(f"{ULOGD_PLUGINS}/ulogd_output_JSON.so").exists()):
        print("needs root, gcc, ulogd2 and ulogd2-json", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    print(machine(), flush=True)
    with inside(EventsLab([f"nfevbench-{os.getpid()}"], "nfevbench-")) as b:
        b.setup()
        exporter = Exporter(b)
        exp, ul = [], []
        for rate in rates:
            exp.append(exporter.step(rate, seconds))
            print(f"exporter {label(rate):>8}: {row_text(exp[-1])}", flush=True)
            ul.append(ulogd_step(b, rate, seconds))
            print(f"ulogd2   {label(rate):>8}: {row_text(ul[-1])}", flush=True)
        flood = exporter.step(0, seconds, counting=True)
        print(f"exporter flood + counting group: {row_text(flood)} {flood['counting']}")
        stop(exporter.p, 15)
    text = markdown(exp, ul, flood, seconds)
    print(text)
    print(ratio("events/s written with no loss, vs ulogd2's JSON stack", max_lossless(exp),
                max_lossless(ul)))
    print(ratio("sustained events/s written, unpaced, vs ulogd2's JSON stack",
                sustained(exp[-1]), sustained(ul[-1])))
    if not args.no_write:
        with (HERE / "RESULTS.md").open("a", encoding="utf-8") as f:
            f.write(text)
    bad = sum(r["unaccounted"] for r in exp + [flood])
    bad += sum(r["file"] != r["written"] for r in exp + [flood])  # the metric is the file's
    c = flood["counting"]
    return 0 if bad == 0 and c["received"] + c["lost"] == c["sent"] else 1


if __name__ == "__main__":
    sys.exit(main())
