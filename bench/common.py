"""What the benches share: the machine header, process CPU and memory readers, a counting TCP
sink, throwaway network namespaces with the processes started in them, and the real exporter and
ulogd2 launched the same way in every bench.

The benches run as scripts (``python3 bench/NAME.py``), so this directory is on ``sys.path`` and
``import common`` finds this module; importing it also puts the repository root on ``sys.path``,
so a bench can use the test suite's helpers (``tests.support``) from a checkout.
"""

import contextlib
import http.client
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from nfacct_exporter.netlink import netns as _netns  # noqa: E402
from tests.support.netns import stop  # noqa: E402,F401 (re-exported for the benches)

ULOGD = "/usr/sbin/ulogd"
ULOGD_PLUGINS = "/usr/lib/x86_64-linux-gnu/ulogd"
LABEL_RULE = r"^(?P<family>ipv[46])\.(?P<app>[^.]+)$"
PREFIX = "netfilter.nfacct"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- what is printed ----------------------------------------------------------------------------

def machine() -> str:
    """CPU model, cores, kernel, Python and date: the first line of every bench's output."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    return (f"{cpu}, {os.cpu_count()} cores, kernel {platform.release()}, "
            f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")


def ratio(what: str, ours: float, reference: float, unit: str = "") -> str:
    """``what: ours X, reference Y, ratio Z×``: the bench's figure next to the reference's."""
    def num(x: float) -> str:
        return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"
    r = ours / reference if reference else float("inf")
    return f"{what}: ours {num(ours)}{unit}, reference {num(reference)}{unit}, ratio {r:.2f}×"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


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


# --- measuring processes ------------------------------------------------------------------------

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


def wait_until(ready: Callable[[], bool], timeout: float, failure: str,
               proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    """Poll ``ready`` until true; exit the bench with ``failure`` (and the log) when ``proc``
    exits or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not ready():
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            sys.exit(failure + (":\n" + log.read_text() if log and log.exists() else ""))
        time.sleep(0.05)


def accept_forever(srv: socket.socket, handle: Callable[[socket.socket], None]) -> None:
    """Accept on ``srv`` until it is closed, each connection handled on a thread of its own."""
    while True:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


class CountingSink:
    """A carbon stand-in on 127.0.0.1: accepts TCP connections and counts lines and bytes."""

    def __init__(self) -> None:
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        self.lines = 0
        self.bytes = 0
        self.first = b""
        self._lock = threading.Lock()
        threading.Thread(target=accept_forever, args=(self.srv, self._read), daemon=True).start()

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


# --- namespaces and the processes in them -------------------------------------------------------

class Lab:
    """Network namespaces created by name (``ns`` is the first), a temp directory, and the
    processes started in them. ``close`` stops the processes by PID and deletes the rest; a
    failure while creating cleans up what was made."""

    def __init__(self, names: list[str], tmp_prefix: str, tmp_dir: str | None = None) -> None:
        self.ns = names[0]
        self.tmp = Path(tempfile.mkdtemp(prefix=tmp_prefix, dir=tmp_dir))
        self.procs: list[subprocess.Popen] = []
        self.created: list[str] = []
        try:
            for ns in names:
                subprocess.run(["ip", "netns", "add", ns], check=True)
                self.created.append(ns)
                subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        except BaseException:
            self.close()
            raise

    def popen(self, argv: list[str], log: str | None = None, **kw: object) -> subprocess.Popen:
        """Start ``argv`` in ``ns`` (output to ``log`` in the temp directory when named)."""
        if log is not None:
            kw.update(stdout=(self.tmp / log).open("wb"), stderr=subprocess.STDOUT)
        with _netns.entered(self.ns):
            p = subprocess.Popen(argv, **kw)  # type: ignore[call-overload]
        self.procs.append(p)
        return p

    def call(self, fn: Callable[[], object]) -> object:
        """Run ``fn`` with this thread in ``ns`` (tests/carbon.Carbon probes its ports so)."""
        with _netns.entered(self.ns):
            return fn()

    def close(self) -> None:
        for p in self.procs:
            stop(p)
        for ns in self.created:
            subprocess.run(["ip", "netns", "del", ns], check=False)
        self.created = []
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextlib.contextmanager
def inside(lab: Lab) -> Iterator[Lab]:
    """This thread in ``lab.ns`` for the body; the lab closed afterwards, also on errors."""
    try:
        with _netns.entered(lab.ns):
            yield lab
    finally:
        lab.close()


def free_port() -> int:
    """A free TCP port on 127.0.0.1 of the calling thread's namespace."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(port: int, gzip: bool = False) -> bytes:
    """GET /metrics on 127.0.0.1:``port`` (from the calling thread's namespace)."""
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


def start_exporter(lab: Lab, config: str, name: str = "exporter", timeout: float = 30
                   ) -> tuple[subprocess.Popen, int]:
    """The real exporter (``python3 -m nfacct_exporter``) in ``lab.ns`` with ``config`` as its
    YAML, listening on a free port; returns once /metrics answers: (process, port)."""
    with _netns.entered(lab.ns):
        port = free_port()
    cfg = lab.tmp / f"{name}.yaml"
    cfg.write_text(config)
    p = lab.popen([sys.executable, "-m", "nfacct_exporter", "--config", str(cfg),
                   "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "warning"],
                  f"{name}.log")

    def up() -> bool:
        with _netns.entered(lab.ns), contextlib.suppress(OSError):
            return bool(scrape(port))
        return False

    wait_until(up, timeout, "exporter did not come up", p, lab.tmp / f"{name}.log")
    return p, port


def start_ulogd(lab: Lab, stack: list[tuple[str, str]], sections: str,
                name: str = "ulogd") -> subprocess.Popen:
    """ulogd2 in ``lab.ns`` on a config written here: ``stack`` is (instance, plugin file stem)
    pairs, e.g. ``("acct1", "inpflow_NFACCT")``; ``sections`` the instances' INI sections."""
    plugins = "".join(f'plugin="{ULOGD_PLUGINS}/ulogd_{so}.so"\n' for _, so in stack)
    chain = ",".join(f"{inst}:{so.rsplit('_', 1)[1]}" for inst, so in stack)
    conf = lab.tmp / f"{name}.conf"
    conf.write_text(f'[global]\nlogfile="{lab.tmp}/{name}.log"\nloglevel=5\n{plugins}'
                    f"stack={chain}\n\n{sections}")
    return lab.popen([ULOGD, "-c", str(conf)], f"{name}.out")


def start_ulogd_graphite(lab: Lab, port: int, acct: str = "", pollinterval: int = 1
                         ) -> subprocess.Popen:
    """ulogd2 NFACCT→GRAPHITE (zerocounter 0, ``acct`` more NFACCT options) to
    127.0.0.1:``port`` with the benches' prefix."""
    return start_ulogd(lab, [("acct1", "inpflow_NFACCT"), ("graphite1", "output_GRAPHITE")],
                       f"[acct1]\npollinterval={pollinterval}\nzerocounter=0\n{acct}\n"
                       "[graphite1]\n"
                       f'host="127.0.0.1"\nport="{port}"\nprefix="{PREFIX}"\n')


def object_names(start: int, stop: int) -> list[str]:
    """Ordinary dotted names that the label rule maps (``ipv4.svc000002``)."""
    return [f"ipv{4 if i % 2 == 0 else 6}.svc{i:06d}" for i in range(start, stop)]


# --- long runs: resource use over time ----------------------------------------------------------

def resources(pid: int) -> dict[str, int]:
    """RSS (bytes), open file descriptors and threads of a live process."""
    status = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"rss": int(status["VmRSS"].split()[0]) * 1024,
            "fds": len(os.listdir(f"/proc/{pid}/fd")), "threads": int(status["Threads"])}


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points (0 for fewer than two distinct x)."""
    if len(points) < 2:
        return 0.0
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0
