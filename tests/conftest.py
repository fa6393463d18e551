"""Shared fixtures: namespaces, the exporter process, a real carbon-cache, a real Prometheus."""

import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from carbon import Carbon  # noqa: E402
from netns import Netns, exporter_argv  # noqa: E402

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Kernel and e2e tests need root; say so instead of failing obscurely."""
    for item in items:
        if "/kernel/" in str(item.fspath) or "/e2e/" in str(item.fspath):
            item.add_marker(needs_root)


@pytest.fixture
def ns() -> Iterator[Netns]:
    n = Netns()
    try:
        yield n
    finally:
        n.close()


def free_port() -> int:
    """Any high port: each test has its own namespace, so nothing else listens there."""
    return random.randint(20000, 60000)


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text: str) -> dict[tuple[str, frozenset], float]:
    """{(metric, frozenset(labels)): value} from the text format, unescaping label values."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"unparseable sample line: {line!r}"
        labels = {}
        if m.group(2):
            for k, v in _LABEL.findall(m.group(2)):
                labels[k] = re.sub(r'\\(.)', lambda e: {"n": "\n"}.get(e.group(1), e.group(1)), v)
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(3))
    return out


class Exporter:
    """The real daemon, running inside a test namespace."""

    def __init__(self, ns: Netns, tmp: Path, config: str) -> None:
        self.ns = ns
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp / "config.yaml"
        self.config.write_text(config)
        self.log = tmp / "exporter.log"
        self.proc = ns.popen(exporter_argv(str(self.config), f"127.0.0.1:{self.port}"),
                             stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            assert self.proc.poll() is None, f"exporter exited: {self.log.read_text()}"
            try:
                if self.ns.http(self.url + "/metrics", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"exporter not up: {self.log.read_text()}"
            time.sleep(0.05)

    def text(self) -> str:
        status, _, body = self.ns.http(self.url + "/metrics")
        assert status == 200
        return body.decode()

    def samples(self) -> dict[tuple[str, frozenset], float]:
        return parse_exposition(self.text())

    def wait_for(self, predicate, timeout: float = 10.0):  # noqa: ANN001
        """Scrape until ``predicate(samples)`` is truthy; return that value."""
        deadline = time.monotonic() + timeout
        while True:
            samples = self.samples()
            got = predicate(samples)
            if got:
                return got
            assert time.monotonic() < deadline, "condition not met; last scrape:\n" + self.text()
            time.sleep(0.1)


@pytest.fixture
def exporter(ns: Netns, tmp_path: Path):
    """Factory: ``exporter(config_yaml)`` starts the daemon in ``ns``; stopped by PID after."""
    def start(config: str) -> Exporter:
        return Exporter(ns, tmp_path, config)
    return start


def kernel_counters(ns: Netns) -> dict[str, tuple[int, int]]:
    """The kernel's NFACCT values read independently, by the ``nfacct`` tool."""
    out = {}
    for line in ns.run("nfacct", "list").stdout.splitlines():
        m = re.match(r"\{ pkts = (\d+), bytes = (\d+)(?:.*)\} = (.*);$", line)
        assert m, line
        out[m.group(3)] = (int(m.group(1)), int(m.group(2)))
    return out


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


@pytest.fixture
def carbon(ns: Netns, tmp_path: Path) -> Carbon:
    """A real carbon-cache in ``ns`` on 127.0.0.1 and a random port (``carbon.port``), already
    listening; ``stop()``/``start()`` restart it on the same port and data; reaped with ``ns``."""
    return Carbon(ns, tmp_path).start()
