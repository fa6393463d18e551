"""Graphite delivery throughput: 10k NFACCT objects per poll to a real local carbon-cache.

In one throwaway network namespace (10,000 objects restored with realistic values), one Debian
carbon-cache (on tmpfs, 60 s retention so 20k whisper files stay small), and a timestamping relay
in front of it that records when each poll's first and last bytes arrive:

* ours, steady state: the real pipeline pieces (NfacctSource dump → NfacctLines → CarbonSender)
  once per second: seconds per poll from submit until the relay saw the last byte and until carbon
  *processed* it (a marker line read back with carbon's cache-query), CPU per poll (dump + format
  in the polling thread, plus the sender thread);
* ours, after an outage: N polls queued at once, drained: lines/s until carbon processed them all;
* ulogd2 2.0.8 NFACCT→GRAPHITE (pollinterval 1, zerocounter 0, timestamp 1) on the same objects
  through the same relay into the same carbon: seconds per poll first→last byte, CPU per poll.

Needs root, nfacct, graphite-carbon, ulogd2. ~1 minute. Run: ``python3 bench/graphite_delivery.py``.
"""

import argparse
import multiprocessing
import os
import platform
import queue
import random
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection

from common import (
    PREFIX,
    ULOGD,
    Lab,
    accept_forever,
    cpu_seconds,
    inside,
    machine,
    ratio,
    start_ulogd_graphite,
    stop,
)

from nfacct_exporter import naming  # noqa: E402
from nfacct_exporter.config import GraphiteConfig  # noqa: E402
from nfacct_exporter.sinks.carbon import CarbonSender  # noqa: E402
from nfacct_exporter.sinks.graphite import NfacctLines  # noqa: E402
from nfacct_exporter.snapshot import Snapshot  # noqa: E402
from nfacct_exporter.sources.nfacct import NfacctSource  # noqa: E402
from tests.support.carbon import Carbon  # noqa: E402


class Relay:
    """Forwards TCP streams to carbon; per poll timestamp: first/last arrival (CLOCK_MONOTONIC,
    comparable across processes), line count. Runs in a child process so that its threads do
    not share a GIL with the sender being measured."""

    def __init__(self, target: int) -> None:
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        self.target = target
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.lines: dict[int, int] = {}
        self._pipe, child = multiprocessing.Pipe()
        self._proc = multiprocessing.get_context("fork").Process(target=self._serve,
                                                                 args=(child,), daemon=True)
        self._proc.start()
        self.srv.close()

    def _serve(self, pipe: Connection) -> None:
        threading.Thread(target=accept_forever, args=(self.srv, self._relay), daemon=True).start()
        pipe.recv()
        pipe.send((self.first, self.last, self.lines))

    def collect(self) -> "Relay":
        """Fetch the child's records (call once, at the end of a phase)."""
        self._pipe.send("report")
        self.first, self.last, self.lines = self._pipe.recv()
        self._proc.terminate()
        return self

    def _relay(self, conn: socket.socket) -> None:
        """One connection: forwarded to carbon on another thread, timestamped on this one."""
        out = socket.create_connection(("127.0.0.1", self.target))
        q: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        threading.Thread(target=self._forward, args=(out, q), daemon=True).start()
        self._read(conn, q)

    def _read(self, conn: socket.socket, q: queue.SimpleQueue) -> None:
        tail = b""
        with conn:
            while data := conn.recv(1 << 20):
                now = time.perf_counter()
                q.put(data)
                buf = tail + data
                cut = buf.rfind(b"\n")
                if cut < 0:
                    tail = buf
                    continue
                block, tail = buf[:cut + 1], buf[cut + 1:]
                end = block.rstrip(b"\n")
                t_last = int(end[end.rfind(b" ") + 1:])
                first_line = block[:block.find(b"\n")]
                t_first = int(first_line[first_line.rfind(b" ") + 1:])
                for t in {t_first, t_last}:
                    self.first.setdefault(t, now)
                    self.last[t] = now
                self.lines[t_last] = self.lines.get(t_last, 0) + block.count(b"\n")
        q.put(None)

    def _forward(self, out: socket.socket, q: queue.SimpleQueue) -> None:
        with out:
            while (data := q.get()) is not None:
                out.sendall(data)


def thread_cpu(tid: int) -> float:
    """Seconds a thread of ours ran (schedstat: ns, finer than stat's clock ticks)."""
    with open(f"/proc/self/task/{tid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


def wait_marker(carbon: Carbon, value: float, timeout: float = 60) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if any(v == value for _, v in carbon.cache_query("bench.marker")) or \
                value in carbon.points("bench.marker").values():
            return time.perf_counter()
        time.sleep(0.002)
    sys.exit(f"carbon never processed marker {value}")


def ours_steady(carbon: Carbon, polls: int) -> dict:
    relay = Relay(carbon.port)
    source = NfacctSource(None)
    source.open()
    lines = NfacctLines(GraphiteConfig("127.0.0.1", relay.port, PREFIX), ())
    sender = CarbonSender("127.0.0.1", relay.port, 5, 64 << 20)
    sender.start()
    res: dict[str, list[float]] = {"format_cpu": [], "to_carbon": [], "lines": [], "submit": [],
                                   "ts": []}
    cpu0 = thread_cpu(sender._thread.native_id)  # noqa: SLF001
    for i in range(-2, polls):  # two warm-up polls: carbon creates 20k whisper files
        time.sleep(1 - time.time() % 1 + 0.05)  # one poll per second, each its own timestamp
        c0 = time.thread_time()
        snap = Snapshot(i, time.time(), 0.0, {"nfacct": source.read()})
        chunk = lines.chunk(snap) + f"bench.marker {i + 10} {int(snap.time)}\n".encode()
        t0 = time.perf_counter()
        sender.submit(chunk)
        fmt = time.thread_time() - c0
        done = wait_marker(carbon, i + 10)
        if i < 0:
            cpu0 = thread_cpu(sender._thread.native_id)  # noqa: SLF001
            continue
        res["format_cpu"].append(fmt)
        res["to_carbon"].append(done - t0)
        res["submit"].append(t0)
        res["ts"].append(int(snap.time))
        res["lines"].append(chunk.count(b"\n"))
    res["sender_cpu"] = [(thread_cpu(sender._thread.native_id) - cpu0) / polls]  # noqa: SLF001
    sender.stop(5)
    source.close()
    relay.collect()
    res["to_relay"] = [relay.last[t] - t0 for t, t0 in zip(res["ts"], res["submit"], strict=True)]
    res["window"] = [relay.last[t] - relay.first[t] for t in res["ts"]]
    return res


def ours_drain(carbon: Carbon, polls: int) -> dict:
    """``polls`` polls queued during an outage, then carbon is reachable: time to drain."""
    source = NfacctSource(None)
    source.open()
    lines = NfacctLines(GraphiteConfig("127.0.0.1", carbon.port, PREFIX), ())
    sender = CarbonSender("127.0.0.1", carbon.port, 5, 1 << 30)
    now, total = time.time(), 0
    reading = source.read()
    for k in range(polls):  # one poll per 10 s in the past: distinct whisper slots
        chunk = lines.chunk(Snapshot(k, now - 10 * (polls - k), 0.0, {"nfacct": reading}))
        sender.submit(chunk)
        total += chunk.count(b"\n")
    sender.submit(f"bench.marker 999 {int(now)}\n".encode())
    packed = sender.backlog_bytes
    t0 = time.perf_counter()
    sender.start()
    done = wait_marker(carbon, 999, timeout=300)
    sender.stop(5)
    source.close()
    return {"lines": total, "seconds": done - t0, "held_bytes": packed}


def ulogd(lab: Lab, carbon: Carbon, seconds: float, last_metric: str) -> dict:
    relay = Relay(carbon.port)
    p = start_ulogd_graphite(lab, relay.port, acct="timestamp=1\n")
    try:
        time.sleep(3)  # warm-up
        if p.poll() is not None:
            sys.exit("ulogd exited:\n" + (lab.tmp / "ulogd.log").read_text())
        t_start, c0 = time.time(), cpu_seconds(p.pid)
        seen: dict[int, float] = {}  # poll timestamp → when carbon had its last line
        while time.time() < t_start + seconds:
            for t, _ in carbon.cache_query(last_metric):
                seen.setdefault(int(t), time.perf_counter())
            time.sleep(0.002)
        cpu, t_end = cpu_seconds(p.pid) - c0, time.time()
    finally:
        stop(p)
    relay.collect()
    polls = [t for t in relay.last if t_start + 1 <= t <= t_end - 2]
    return {"windows": [relay.last[t] - relay.first[t] for t in polls],
            "cpu_per_poll": cpu / max(1, t_end - t_start),
            "to_carbon": [seen[t] - relay.first[t] for t in polls if t in seen],
            "lines": [relay.lines.get(t, 0) for t in polls]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--polls", type=int, default=10)
    ap.add_argument("--drain-polls", type=int, default=30)
    ap.add_argument("--ulogd-seconds", type=float, default=12)
    args = ap.parse_args()
    # this thread and everything it starts run in the namespace; carbon's files on tmpfs
    with inside(Lab([f"nfgbench-{os.getpid()}"], "nfgbench-", "/dev/shm")) as lab:
        rng = random.Random(1)
        names = [f"ipv{4 + 2 * (i % 2)}.app{i:05d}" for i in range(args.objects)]
        subprocess.run(["nfacct", "restore"], check=True, text=True, input="".join(
            f"{{ pkts = {rng.randrange(10**9)}, bytes = {rng.randrange(10**12)} }} = {n};\n"
            for n in names))
        carbon = Carbon(lab, lab.tmp, retention="60s:1h").start()  # type: ignore[arg-type]
        steady = ours_steady(carbon, args.polls)
        drain = ours_drain(carbon, args.drain_polls)
        src = NfacctSource(None)
        src.open()
        last = f"{PREFIX}.{naming.graphite_name(src.read().records[-1].name)}.bytes"
        src.close()
        ul = ulogd(lab, carbon, args.ulogd_seconds, last) if shutil.which(ULOGD) else None
        report(args, steady, drain, ul)


def report(args: argparse.Namespace, s: dict, d: dict, u: dict | None) -> None:
    med = statistics.median
    lines = med(s["lines"])
    window, relay_s, carbon_s = med(s["window"]), med(s["to_relay"]), med(s["to_carbon"])
    cpu_ms = (med(s["format_cpu"]) + s["sender_cpu"][0]) * 1000
    mem = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    out = [f"### Graphite delivery ({platform.node()}, {mem:.0f} GiB)", "",
           f"machine: {machine()}", "",
           f"`python3 bench/graphite_delivery.py` — {args.objects} NFACCT objects "
           f"({lines:.0f} lines/poll), Debian carbon-cache 1.1.7 on 127.0.0.1 behind a "
           "timestamping relay (own process); medians.", "",
           "| measure | nfacct-exporter | ulogd2 NFACCT→GRAPHITE | ours / ulogd2 |",
           "|---|---|---|---|"]

    def per(a: float, b: float) -> float:  # a tiny poll can arrive in one read: window 0
        return a / b if b else float("nan")

    def ur(key: str) -> float:
        return med(u[key]) if u and u[key] else float("nan")
    uw, uc = ur("windows"), ur("to_carbon")
    ucpu = u["cpu_per_poll"] * 1000 if u else float("nan")
    out += [
        f"| a poll on the wire: first→last byte at the relay, s | {window:.4f} | {uw:.4f} "
        f"| {per(window, uw):.2f}× |",
        f"| lines/s on the wire within a poll | {per(lines, window):,.0f} | "
        f"{per(ur('lines'), uw):,.0f} | {per(uw, window):.2f}× |",
        f"| submit → last byte at the relay, s | {relay_s:.4f} | - | - |",
        f"| a poll processed by carbon, s (ours: submit → marker; ulogd2: first byte → last "
        f"object's point in carbon's cache) | {carbon_s:.3f} | {uc:.3f} "
        f"| {per(carbon_s, uc):.2f}× |",
        f"| throughput into carbon, lines/s | {per(lines, carbon_s):,.0f} | "
        f"{per(ur('lines'), uc):,.0f} | {per(uc, carbon_s):.2f}× |",
        f"| CPU per poll, ms (ours: dump + format {med(s['format_cpu']) * 1000:.1f}, sender "
        f"thread {s['sender_cpu'][0] * 1000:.1f}) | {cpu_ms:.1f} | {ucpu:.1f} "
        f"| {per(cpu_ms, ucpu):.2f}× |",
        f"| backlog of {args.drain_polls} polls ({d['held_bytes'] / 2**20:.1f} MiB) drained into "
        f"carbon, lines/s | {d['lines'] / d['seconds']:,.0f} ({d['seconds']:.1f} s) | - | - |", "",
        ratio("a poll on the wire, first→last byte, vs ulogd2", window, uw, " s"),
        ratio("a poll processed by carbon, vs ulogd2", carbon_s, uc, " s"),
        ratio("CPU per poll, vs ulogd2", cpu_ms, ucpu, " ms"), ""]
    print("\n".join(out))


if __name__ == "__main__":
    main()
