"""Soak: the real daemon under everything at once for ``--minutes`` (default 30), failing on a
growth trend of RSS, open file descriptors or threads.

In one throwaway namespace: NFACCT objects created and deleted in churn (netlink), UDP traffic
counted by NFACCT rules and logged by NFLOG rules whose prefixes keep changing (random text,
past the ``max_prefixes`` cap), a real carbon-cache restarted every few minutes, and every 20 s a
burst of hostile HTTP clients (idle sockets, byte-a-second requests, resets) held for 6 s; a
scrape every second throughout. Resources are sampled at the start of each 20 s cycle (no hostile
client open then); the verdict is a least-squares fit of the second half of the samples.

    python3 bench/soak.py --minutes 10 [--record]   (--record appends the run to RESULTS.md)
"""

import argparse
import contextlib
import random
import shutil
import socket
import statistics
import string
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

import common

from tests.support.carbon import Carbon
from tests.support.churn import Churn
from tests.support.daemon import Daemon
from tests.support.exposition import parse_exposition
from tests.support.firewall import counters
from tests.support.netns import Netns

GROUP, NFACCT_PORT, NFLOG_PORT = 5, 31501, 31502
CYCLE, HOSTILE_HOLD = 20.0, 6.0
CONFIG = """\
pollinterval: 1
graphite:
  host: 127.0.0.1
  port: {port}
  timeout: 2
nflog:
  - group: 5
    verdict: drop
    max_prefixes: 64
"""
LIMITS = {"rss": 4 << 20, "fds": 3, "threads": 3}  # growth over the second half that fails


class Soak:
    def __init__(self, minutes: float, carbon_every: float, pool: int) -> None:
        self.minutes, self.carbon_every, self.pool = minutes, carbon_every, pool or None
        self.tmp = Path(tempfile.mkdtemp(prefix="soak-"))
        self.ns = Netns()
        self.stop = threading.Event()
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.scrapes: list[float] = []
        self.scrape_failures: list[str] = []
        self.rules: list[str] = []
        self.events = {"carbon restarts": 0, "prefix rules": 0, "hostile clients": 0,
                       "packets sent": 0}

    # --- the load -------------------------------------------------------------------------
    def traffic(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            while not self.stop.wait(0.01):
                for port in (NFACCT_PORT, NFLOG_PORT) * 3:
                    s.sendto(b"s" * random.randint(1, 200), ("127.0.0.1", port))
                self.events["packets sent"] += 6

    def prefix_rule(self, prefix: str, op: str) -> bool:
        argv = ["iptables", op, "INPUT", "-p", "udp", "--dport", str(NFLOG_PORT), "-j", "NFLOG",
                "--nflog-group", str(GROUP), "--nflog-prefix", prefix]
        return not self.ns.run(*argv, check=False).returncode

    def prefixes(self) -> None:
        alphabet = string.printable + "äß€"
        while not self.stop.wait(3):
            prefix = "".join(random.choices(alphabet, k=random.randint(1, 40)))[:60]
            if not self.prefix_rule(prefix, "-A"):
                continue  # iptables refuses some control characters
            self.rules.append(prefix)
            self.events["prefix rules"] += 1
            if len(self.rules) > 3:
                self.prefix_rule(self.rules.pop(0), "-D")

    def carbon_restarts(self, carbon: Carbon) -> None:
        while not self.stop.wait(self.carbon_every):
            carbon.stop()
            self.stop.wait(8)
            carbon.start()
            self.events["carbon restarts"] += 1

    def scraper(self, daemon: Daemon) -> None:
        while not self.stop.wait(1):
            t = time.monotonic()
            try:
                daemon.text()
                self.scrapes.append(time.monotonic() - t)
            except (OSError, AssertionError) as e:
                self.scrape_failures.append(f"{time.strftime('%H:%M:%S')} {e}")

    def hostile(self, port: int) -> None:
        """Idle sockets, byte-a-second clients and resets, held for HOSTILE_HOLD seconds."""
        conns: list[socket.socket] = []
        with contextlib.ExitStack() as stack:
            for _ in range(60):
                with contextlib.suppress(OSError):
                    c = stack.enter_context(socket.create_connection(("127.0.0.1", port), 2))
                    conns.append(c)
            self.events["hostile clients"] += len(conns)
            for c in conns[40:50]:  # resets, mid-request
                with contextlib.suppress(OSError):
                    c.sendall(b"GET /met")
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    c.close()
            request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
            for i in range(int(HOSTILE_HOLD)):
                for c in conns[50:]:  # slowloris
                    with contextlib.suppress(OSError):
                        c.send(request[i : i + 1])
                if self.stop.wait(1):
                    break

    # --- the run --------------------------------------------------------------------------
    def run(self) -> int:
        carbon = Carbon(self.ns, self.tmp, retention="10s:5m").start()
        counters(self.ns, {"ipv4.soak": NFACCT_PORT})
        self.prefix_rule("soak start", "-A")
        daemon = Daemon(self.ns, self.tmp, CONFIG.format(port=carbon.port)).ready()
        pid = daemon.proc.pid
        churn = Churn(self.ns.name, batch=50, period=5.0, pool=self.pool).start()

        def in_ns(fn, *args) -> None:  # noqa: ANN001
            t = threading.Thread(target=fn, args=args, daemon=True)
            self.ns.call(t.start)  # a thread started in the namespace stays in it
            threads.append(t)

        threads: list[threading.Thread] = []
        in_ns(self.traffic)
        threading.Thread(target=self.prefixes, daemon=True).start()
        threading.Thread(target=self.carbon_restarts, args=(carbon,), daemon=True).start()
        threading.Thread(target=self.scraper, args=(daemon,), daemon=True).start()
        print(common.machine(), flush=True)
        print(f"soak for {self.minutes:g} min, exporter pid {pid}, tmp {self.tmp}", flush=True)
        print("minute  rss_MiB  fds  threads  scrape_p99_ms  scrapes_failed", flush=True)
        start = time.monotonic()
        end = start + self.minutes * 60
        while time.monotonic() < end and daemon.proc.poll() is None:
            self.samples.append((time.monotonic() - start, common.resources(pid)))
            if len(self.samples) % 3 == 1:
                self.print_sample()
            in_ns(self.hostile, daemon.port)
            self.stop.wait(max(0.0, min(CYCLE, end - time.monotonic())))
        self.stop.set()
        alive = daemon.proc.poll() is None
        final = parse_exposition(daemon.text()) if alive else {}
        churned = churn.stop()
        for t in threads:
            t.join(10)
        return self.verdict(alive, final, churned, daemon, carbon)

    def print_sample(self) -> None:
        t, r = self.samples[-1]
        p99 = (statistics.quantiles(self.scrapes, n=100)[98] * 1000
               if len(self.scrapes) > 2 else 0.0)
        print(f"{t / 60:6.1f}  {r['rss'] / 2**20:7.1f}  {r['fds']:3d}  {r['threads']:7d}  "
              f"{p99:13.1f}  {len(self.scrape_failures):14d}", flush=True)

    def verdict(self, alive: bool, final: dict, churned: tuple, daemon: Daemon,
                carbon: Carbon) -> int:
        second = [(t, r) for t, r in self.samples if t >= self.samples[-1][0] / 2]
        growth = {k: common.slope([(t, r[k]) for t, r in second])
                  * (second[-1][0] - second[0][0]) for k in LIMITS} if second else {}

        def own(metric: str) -> float:
            return sum(v for (m, _), v in final.items() if m == metric)

        counts = {
            "poll errors": own("nfacct_exporter_poll_errors_total"),
            "graphite lines dropped": own("nfacct_exporter_graphite_lines_dropped_total"),
            "graphite lines sent": own("nfacct_exporter_graphite_lines_sent_total"),
            "nflog packets lost": own("nflog_lost_packets_total"),
            "nflog series": len({lbl for (m, lbl) in final if m == "nflog_packets_total"}),
        }
        tracebacks = daemon.output().count("Traceback")
        problems = [f"{k} grew {growth[k]:.0f} over the second half (limit {LIMITS[k]})"
                    for k in LIMITS if growth.get(k, 0) > LIMITS[k]]
        problems += [f"exporter exited: {daemon.output()[-2000:]}"] * (not alive)
        problems += [f"{len(self.scrape_failures)} scrapes failed: {self.scrape_failures[:5]}"
                     ] * bool(self.scrape_failures)
        problems += [f"{tracebacks} tracebacks in the log"] * bool(tracebacks)
        problems += [f"carbon: {carbon.problems()[:3]}"] * bool(carbon.problems())
        problems += [f"churn errors {churned[2][:5]}"] * bool(churned[2])
        problems += ["graphite lines dropped"] * bool(counts["graphite lines dropped"])
        if self.samples:
            self.print_sample()
        first, last = self.samples[0][1], self.samples[-1][1]
        lines = [
            f"samples {len(self.samples)} over {self.samples[-1][0] / 60:.1f} min; "
            f"scrapes {len(self.scrapes)} (max {max(self.scrapes, default=0) * 1000:.0f} ms, "
            f"failed {len(self.scrape_failures)})",
            "first → last sample: " + ", ".join(
                f"{k} {first[k] / (2**20 if k == 'rss' else 1):.1f} → "
                f"{last[k] / (2**20 if k == 'rss' else 1):.1f}" for k in LIMITS),
            "second-half fit growth: " + ", ".join(
                f"{k} {growth[k] / (2**20 if k == 'rss' else 1):+.2f}"
                + (" MiB" if k == "rss" else "") for k in growth),
            f"load: objects churned {churned[0]} created / {churned[1]} deleted "
            f"({self.pool * 50 if self.pool else churned[0]} distinct names), "
            + ", ".join(f"{k} {v}" for k, v in self.events.items()),
            "exporter: " + ", ".join(f"{k} {v:g}" for k, v in counts.items())
            + f", tracebacks {tracebacks}",
            "verdict: " + ("PASS" if not problems else "FAIL: " + "; ".join(problems)),
        ]
        print("\n".join(lines), flush=True)
        self.report = lines
        return 1 if problems else 0

    def close(self) -> None:
        self.stop.set()
        self.ns.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def record(soak: Soak, minutes: float) -> None:
    results = Path(__file__).with_name("RESULTS.md")
    rows = "\n".join(
        f"| {t / 60:.1f} | {r['rss'] / 2**20:.1f} | {r['fds']} | {r['threads']} |"
        for i, (t, r) in enumerate(soak.samples) if i % 3 == 0 or i == len(soak.samples) - 1)
    with results.open("a") as f:
        f.write(f"\n\n## Soak, {minutes:g} minutes — {time.strftime('%Y-%m-%d %H:%M')}\n\n"
                f"{common.machine()}. `python3 bench/soak.py --minutes {minutes:g} "
                f"--name-pool {soak.pool or 0}`.\n\n"
                + "\n".join(f"- {line}" for line in soak.report)
                + "\n\n| minute | RSS MiB | fds | threads |\n|---|---|---|---|\n" + rows + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--carbon-every", type=float, default=180.0,
                    help="seconds between carbon restarts")
    ap.add_argument("--name-pool", type=int, default=40,
                    help="churn rounds whose names are reused (0: every name new, so the "
                    "per-name caches grow until naming.CACHE_MAX)")
    ap.add_argument("--record", action="store_true", help="append the run to bench/RESULTS.md")
    args = ap.parse_args()
    soak = Soak(args.minutes, args.carbon_every, args.name_pool)
    try:
        code = soak.run()
    finally:
        soak.close()
    if args.record:
        record(soak, args.minutes)
    sys.exit(code)


if __name__ == "__main__":
    main()
