"""A real carbon-cache (Debian ``graphite-carbon``) for tests, run inside a test namespace.

Foreground (``--nodaemon``), private temp dir, 127.0.0.1 and a random high port (never 2003),
``USER =`` (stay root), ``MAX_CREATES_PER_MINUTE = inf`` (Debian's 50 silently drops new series),
``ENABLE_TAGS = False`` (no graphite-web tagdb), one 1 s archive aggregated with ``last``.
Points are read back from whisper files (the ``whisper`` module) or, before carbon flushed them,
from carbon's cache-query port.
"""

import hashlib
import pickle
import socket
import struct
import subprocess
import time
from pathlib import Path

import whisper

from tests.support.netns import Netns, free_port, stop
from tests.support.waiting import until

CARBON_CACHE = "/usr/bin/carbon-cache"

_CONF = """\
[cache]
STORAGE_DIR = {d}/storage
LOCAL_DATA_DIR = {d}/storage/whisper
WHITELISTS_DIR = {d}/storage/lists
LOG_DIR = {d}/log
PID_DIR = {d}
USER =
DATABASE = whisper
ENABLE_TAGS = False
CARBON_METRIC_INTERVAL = 0
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {port}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = 0
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = {query_port}
LOG_LISTENER_CONN_SUCCESS = False
LOG_CREATES = False
"""

_SCHEMAS = "[all]\npattern = .*\nretentions = {retention}\n"
_AGGREGATION = "[all]\npattern = .*\nxFilesFactor = 0\naggregationMethod = last\n"


class Carbon:
    """One carbon-cache in ``ns``; ``stop()``/``start()`` keep its directory, port and data."""

    def __init__(self, ns: Netns, tmp: Path, retention: str = "1s:1h") -> None:
        self.ns = ns
        self.dir = tmp / "carbon"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.query_port = self.port + 1 if self.port < 32767 else self.port - 1
        self.whisper_dir = self.dir / "storage" / "whisper"
        (self.dir / "carbon.conf").write_text(
            _CONF.format(d=self.dir, port=self.port, query_port=self.query_port))
        (self.dir / "storage-schemas.conf").write_text(_SCHEMAS.format(retention=retention))
        (self.dir / "storage-aggregation.conf").write_text(_AGGREGATION)
        self.log = self.dir / "stdout.log"
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "Carbon":
        assert self.proc is None or self.proc.poll() is not None, "carbon already running"
        self.proc = self.ns.popen(
            [CARBON_CACHE, f"--config={self.dir / 'carbon.conf'}",
             f"--pidfile={self.dir / 'carbon.pid'}", "--nodaemon", "start"],
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        proc = self.proc
        until(self._listening, 20, "carbon-cache to listen", 0.05,
              alive=lambda: None if proc.poll() is None
              else f"carbon-cache exited:\n{self.log.read_text()}")
        return self

    def stop(self) -> None:
        """SIGTERM by PID: carbon flushes its cache to whisper, then exits (~2 s)."""
        if self.proc is not None:
            stop(self.proc, timeout=30)

    def _listening(self) -> bool:
        def probe() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False
        return self.ns.call(probe)

    # --- reading back ----------------------------------------------------------------------
    def path(self, metric: str) -> Path:
        """The whisper file carbon writes for ``metric`` (tagged series: carbon's encoding)."""
        if ";" in metric:
            name, *tags = metric.split(";")
            norm = name + "".join(sorted(";" + t for t in tags))
            h = hashlib.sha256(norm.encode()).hexdigest()
            return self.whisper_dir / "_tagged" / h[:3] / h[3:6] / f"{h}.wsp"  # TAG_HASH_FILENAMES
        return self.whisper_dir / (metric.replace(".", "/") + ".wsp")

    def points(self, metric: str, since: float = 0) -> dict[int, float]:
        """{timestamp: value} from whisper (non-null points) merged with carbon's cache.

        Carbon's writer takes points out of its cache before they are in whisper, so one read
        can miss a point in transit: two reads 50 ms apart, merged (the later one wins)."""
        first = self._points(metric, since)
        time.sleep(0.05)
        return {**first, **self._points(metric, since)}

    def _points(self, metric: str, since: float) -> dict[int, float]:
        out: dict[int, float] = {}
        p = self.path(metric)
        if p.exists():
            now = int(time.time())
            since = max(int(since), now - 3500)
            (start, _end, step), values = whisper.fetch(str(p), since, now + 1)
            out = {start + i * step: v for i, v in enumerate(values) if v is not None}
        if self.proc is not None and self.proc.poll() is None:
            out.update({int(t): v for t, v in self.cache_query(metric)})
        return out

    def wait_value(self, metric: str, value: float, timeout: float = 15.0) -> dict[int, float]:
        """Points of ``metric`` once its latest point equals ``value``."""
        def latest() -> dict[int, float] | None:
            pts = self.points(metric)
            return pts if pts and pts[max(pts)] == value else None
        return until(latest, timeout, f"{metric} to reach {value}", 0.2)

    def metrics(self) -> set[str]:
        """Every untagged metric with a whisper file."""
        return {".".join(p.relative_to(self.whisper_dir).with_suffix("").parts)
                for p in self.whisper_dir.rglob("*.wsp") if "_tagged" not in p.parts}

    def cache_query(self, metric: str) -> list[tuple[float, float]]:
        def query() -> list[tuple[float, float]]:
            req = pickle.dumps({"type": "cache-query", "metric": metric}, protocol=2)
            with socket.create_connection(("127.0.0.1", self.query_port), 5) as s:
                s.sendall(struct.pack("!L", len(req)) + req)
                buf = b""
                while len(buf) < 4 or len(buf) < 4 + struct.unpack("!L", buf[:4])[0]:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
            return pickle.loads(buf[4:])["datapoints"]
        try:
            return self.ns.call(query)
        except (OSError, EOFError, pickle.UnpicklingError):
            return []

    def problems(self) -> list[str]:
        """Log lines showing carbon refused something we sent."""
        return [line for line in self.log.read_text(errors="replace").splitlines()
                if "invalid line" in line or "Error parsing metric" in line]


PREFIX = "netfilter.nfacct"


def graphite(carbon: Carbon, extra: str = "", pollinterval: float = 0.5) -> str:
    """An exporter config sending to ``carbon`` (plus ``extra`` YAML under ``graphite:``)."""
    return (f"pollinterval: {pollinterval}\ngraphite:\n  host: 127.0.0.1\n  port: {carbon.port}\n"
            f"  timeout: 2\n{extra}")
