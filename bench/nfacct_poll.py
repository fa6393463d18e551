#!/usr/bin/env python3
"""Issue 2 benchmark: the NFACCT hot path against its references, in one run.

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
import contextlib
import http.client
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric

from nfacct_exporter import naming
from nfacct_exporter.netlink import netns as _netns
from nfacct_exporter.netlink import nfacct
from nfacct_exporter.netlink.socket import NetfilterSocket

ULOGD = "/usr/sbin/ulogd"
ULOGD_PLUGINS = "/usr/lib/x86_64-linux-gnu/ulogd"
LABEL_RULE = r"^(?P<family>ipv[46])\.(?P<app>[^.]+)$"
PREFIX = "netfilter.nfacct"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TRAFFIC_PPS = 5  # each packet crosses every rule: every counter changes at every poll
TRAFFIC_PORT = 5999  # UDP port of the traffic (the namespace is ours: nothing else uses it)

# Targets from issue 2.
T_DUMP = 1.2  # 10k dump+decode ≤ 1.2 × `nfacct list`
T_CPU = 1.2  # CPU at pollinterval 1 with Graphite ≤ 1.2 × ulogd2
T_SCRAPE = 0.1  # 10k scrape ≤ 1/10 of naive prometheus_client
T_RSS = 64 * 1024 * 1024


def object_names(start: int, stop: int) -> list[str]:
    """Ordinary dotted names that the label rule maps (``ipv4.svc000002``)."""
    return [f"ipv{4 if i % 2 == 0 else 6}.svc{i:06d}" for i in range(start, stop)]


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


# --- measuring processes ----------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of the process (/proc/PID/stat), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def sched_seconds(pid: int) -> float:
    """On-CPU time summed over the live threads (/proc/PID/task/*/schedstat), ns precision."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


class CountingSink:
    """A carbon stand-in on 127.0.0.1: accepts TCP connections and counts lines and bytes."""

    def __init__(self) -> None:
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        self.lines = 0
        self.bytes = 0
        self.first = b""
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(1 << 20):
                with self._lock:
                    if not self.first:
                        self.first = data[: data.find(b"\n") + 1]
                    self.lines += data.count(b"\n")
                    self.bytes += len(data)

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self.lines, self.bytes

    def close(self) -> None:
        self.srv.close()


# --- the namespace and its processes -------------------------------------------------------------

class Bench:
    """Owns the namespace, the processes started in it, and the temp directory."""

    def __init__(self) -> None:
        self.ns = f"nfbench-{os.getpid()}"
        self.tmp = Path(tempfile.mkdtemp(prefix="nfbench-"))
        self.procs: list[subprocess.Popen] = []
        subprocess.run(["ip", "netns", "add", self.ns], check=True)

    def popen(self, argv: list[str], log: str) -> subprocess.Popen:
        """Start a process; the calling thread is inside the namespace, so the child is too."""
        p = subprocess.Popen(argv, stdout=(self.tmp / log).open("wb"), stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen) -> None:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def close(self) -> None:
        for p in self.procs:
            self.stop(p)
        subprocess.run(["ip", "netns", "del", self.ns], check=False)
        subprocess.run(["rm", "-rf", str(self.tmp)], check=False)


def start_exporter(b: Bench, sink: CountingSink) -> tuple[subprocess.Popen, int]:
    with socket.socket() as probe:  # a free port in the namespace (nothing else runs there)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cfg = b.tmp / "exporter.yaml"
    cfg.write_text(f"pollinterval: 1\ngraphite:\n  host: 127.0.0.1\n  port: {sink.port}\n"
                   f"  prefix: {PREFIX}\nlabels:\n  - match: '{LABEL_RULE}'\n")
    p = b.popen([sys.executable, "-m", "nfacct_exporter", "--config", str(cfg),
                 "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "warning"],
                "exporter.log")
    deadline = time.monotonic() + 30
    while True:
        if p.poll() is not None:
            sys.exit("exporter exited:\n" + (b.tmp / "exporter.log").read_text())
        with contextlib.suppress(OSError):
            if scrape(port)[0]:
                return p, port
        if time.monotonic() > deadline:
            sys.exit("exporter did not come up")
        time.sleep(0.1)


def start_ulogd(b: Bench, sink: CountingSink) -> subprocess.Popen:
    conf = b.tmp / "ulogd.conf"
    conf.write_text(f"""[global]
logfile="{b.tmp}/ulogd.log"
loglevel=5
plugin="{ULOGD_PLUGINS}/ulogd_inpflow_NFACCT.so"
plugin="{ULOGD_PLUGINS}/ulogd_output_GRAPHITE.so"
stack=acct1:NFACCT,graphite1:GRAPHITE

[acct1]
pollinterval=1
zerocounter=0

[graphite1]
host="127.0.0.1"
port="{sink.port}"
prefix="{PREFIX}"
""")
    return b.popen([ULOGD, "-c", str(conf)], "ulogd.out")


def scrape(port: int, gzip: bool = False) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"} if gzip else {})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise OSError(f"/metrics: HTTP {resp.status}")
        return body
    finally:
        conn.close()


# --- the measurements -------------------------------------------------------------------------

def interleaved(reps: int, **fns: Callable[[], object]) -> dict[str, list[float]]:
    """Wall time of each function, alternating (and alternating the order) ``reps`` times."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    items = list(fns.items())
    for i in range(reps):
        for name, fn in items if i % 2 == 0 else reversed(items):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return times


def bench_dump(sock: NetfilterSocket, n: int, reps: int) -> dict[str, float]:
    got = len(nfacct.dump(sock))
    assert got == n, f"dump returned {got} objects, expected {n}"
    t = interleaved(
        reps,
        ours=lambda: nfacct.dump(sock),
        nfacct_list=lambda: subprocess.run(["nfacct", "list"], stdout=subprocess.DEVNULL,
                                           check=True))
    ours, ref = median_ms(t["ours"]), median_ms(t["nfacct_list"])
    return {"n": n, "reps": reps, "ours_ms": ours, "list_ms": ref, "ratio": ours / ref}


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


@contextlib.contextmanager
def traffic(pps: int) -> Iterator[None]:
    """Loopback UDP at ``pps``: with one nfacct rule per object in OUTPUT, all counters move.

    Sent to a socket of ours, which reads them: a closed port would answer with ICMP errors that
    cross the 10k rules again in softirq context, charged to whichever process runs then.
    """
    stop = threading.Event()

    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            rx.bind(("127.0.0.1", TRAFFIC_PORT))
            rx.setblocking(False)
            while not stop.wait(1 / pps):
                tx.sendto(b"x" * 64, ("127.0.0.1", TRAFFIC_PORT))
                with contextlib.suppress(BlockingIOError):
                    rx.recv(2048)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


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


def add_rules(names: list[str]) -> None:
    """One ``-m nfacct`` rule per object (iptables-restore: 10k rules in ~0.4 s).

    In a chain only the benchmark's UDP traffic enters: every packet crossing 10k rules costs
    ~1.2 ms here, which the daemons' own TCP traffic to their sinks must not pay.
    """
    rules = (f"*filter\n:OUTPUT ACCEPT [0:0]\n:NFBENCH - [0:0]\n"
             f"-A OUTPUT -p udp --dport {TRAFFIC_PORT} -j NFBENCH\n")
    rules += "".join(f"-A NFBENCH -m nfacct --nfacct-name {n}\n" for n in names) + "COMMIT\n"
    subprocess.run(["iptables-restore"], input=rules.encode(), check=True)


# --- output -------------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(dumps: list[dict], sc: dict, cpu: dict[str, dict], mem: dict, args: argparse.Namespace,
           sink_first: dict[str, bytes]) -> str:
    kernel = platform.release()
    lines = [
        f"date: {time.strftime('%a %b %d %H:%M:%S %Z %Y')}; kernel {kernel}; "
        f"{os.cpu_count()} cores; Python {platform.python_version()}",
        "",
        "| measurement | ours | reference | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for d in dumps:
        target = f"≤ {T_DUMP}× ({verdict(d['ratio'] <= T_DUMP)})" if d["n"] == 10_000 else "-"
        lines.append(f"| dump+decode {d['n']:,} objects (median of {d['reps']}) | "
                     f"{d['ours_ms']:.2f} ms | `nfacct list` {d['list_ms']:.2f} ms | "
                     f"{d['ratio']:.2f}× | {target} |")
    if sc:
        lines.append(f"| scrape /metrics {sc['n']:,} objects (median of {sc['reps']}) | "
                     f"{sc['ours_ms']:.2f} ms (max {sc['ours_max_ms']:.1f}; "
                     f"{sc['ours_bytes'] / 1e6:.2f} MB; gzip {sc['gzip_ms']:.2f} ms) | "
                     f"naive prometheus_client {sc['naive_ms']:.1f} ms | "
                     f"{sc['ratio']:.3f}× | ≤ {T_SCRAPE}× ({verdict(sc['ratio'] <= T_SCRAPE)}) |")
    for phase, res in cpu.items():
        o, u = res["exporter"], res["ulogd2"]
        ratio = o["pct"] / u["pct"] if u["pct"] else float("inf")
        parts = [a / b for a, b in zip(o["parts_sched_s"], u["parts_sched_s"], strict=True) if b]
        lines.append(
            f"| CPU, pollinterval 1, Graphite on, {phase} ({o['window_s']:.0f} s window) | "
            f"{o['pct']:.2f} % of a core, {o['ms_per_poll']:.1f} ms/poll "
            f"({o['polls']:.0f} polls; schedstat {o['sched_pct']:.2f} %) | "
            f"ulogd2 {u['pct']:.2f} %, {u['ms_per_poll']:.1f} ms/poll "
            f"({u['polls']:.0f} polls; schedstat {u['sched_pct']:.2f} %) | "
            f"{ratio:.2f}× (per {o['window_s'] / len(parts):.0f} s: "
            f"{', '.join(f'{r:.2f}' for r in parts)}) | ≤ {T_CPU}× ({verdict(ratio <= T_CPU)}) |")
    if mem:
        lines.append(f"| RSS of the exporter, {args.cpu_objects:,} objects | "
                     f"{mem['VmRSS'] / 2**20:.1f} MiB (peak {mem['VmHWM'] / 2**20:.1f} MiB) | "
                     f"ulogd2 {mem['ulogd_rss'] / 2**20:.1f} MiB | - | "
                     f"≤ 64 MiB ({verdict(mem['VmHWM'] <= T_RSS)}) |")
    lines += ["", "Graphite sink: a counting TCP sink on 127.0.0.1 in the namespace (per daemon)."]
    for k, first in sink_first.items():
        lines.append(f"first line received from {k}: `{first.decode(errors='replace').strip()}`")
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

    bench = Bench()
    dumps: list[dict] = []
    sc: dict = {}
    cpu: dict[str, dict] = {}
    mem: dict = {}
    first: dict[str, bytes] = {}
    try:
        with _netns.entered(bench.ns):  # this thread and everything it starts run in there
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            sock = NetfilterSocket()
            have = 0
            steps = sorted(set(sizes) | {args.cpu_objects})
            for n in steps:
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
                    sc, cpu, mem, first = run_daemons(bench, sock, n, args)
            sock.close()
    finally:
        bench.close()
    print(report(dumps, sc, cpu, mem, args, first))
    return 0


def run_daemons(bench: Bench, sock: NetfilterSocket, n: int, args: argparse.Namespace
                ) -> tuple[dict, dict, dict, dict]:
    """Scrape and CPU phases with both daemons running on the same ``n`` objects."""
    ours_sink, ulogd_sink = CountingSink(), CountingSink()
    exporter, port = start_exporter(bench, ours_sink)
    ulogd = start_ulogd(bench, ulogd_sink)
    time.sleep(3)  # warm-up: imports, first polls, caches filled
    if ulogd.poll() is not None:
        sys.exit("ulogd exited:\n" + (bench.tmp / "ulogd.log").read_text())
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
    bench.stop(ulogd)  # quieter machine for the scrape timings
    sc = bench_scrape(sock, port, args.reps)
    print(f"  scrape {sc}", file=sys.stderr)
    mem["VmHWM"] = memory(exporter.pid)["VmHWM"]
    first = {"exporter": ours_sink.first, "ulogd2": ulogd_sink.first}
    bench.stop(exporter)
    subprocess.run(["iptables", "-F"], check=True)
    subprocess.run(["iptables", "-X", "NFBENCH"], check=True)
    ours_sink.close()
    ulogd_sink.close()
    return sc, cpu, mem, first


if __name__ == "__main__":
    sys.exit(main())
