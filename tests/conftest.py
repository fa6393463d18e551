"""Shared fixtures: a test namespace, the exporter process, a real carbon-cache. Helpers live in
``tests/support/``."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.carbon import Carbon
from tests.support.chromium import CHROMIUM, Browser
from tests.support.daemon import Daemon
from tests.support.netns import Netns

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Kernel, e2e and browser tests need root; say so instead of failing obscurely."""
    for item in items:
        if any(f"/{d}/" in str(item.fspath) for d in ("kernel", "e2e", "browser")):
            item.add_marker(needs_root)


@pytest.fixture
def ns() -> Iterator[Netns]:
    n = Netns()
    try:
        yield n
    finally:
        n.close()


@pytest.fixture
def exporter(ns: Netns, tmp_path: Path):  # noqa: ANN201
    """Factory: ``exporter(config_yaml)`` starts the daemon in ``ns`` and waits until it serves
    ``/metrics``; stopped by PID with the namespace."""
    def start(config: str) -> Daemon:
        return Daemon(ns, tmp_path, config).ready()
    return start


@pytest.fixture
def carbon(ns: Netns, tmp_path: Path) -> Carbon:
    """A real carbon-cache in ``ns`` on 127.0.0.1 and a random port (``carbon.port``), already
    listening; ``stop()``/``start()`` restart it on the same port and data; reaped with ``ns``."""
    return Carbon(ns, tmp_path).start()


@pytest.fixture
def browser(ns: Netns) -> Iterator[Browser]:
    """Headless Chromium inside ``ns`` (the suite needs it: ``make deps`` installs it)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is not installed: `make deps` installs the chromium package")
    b = Browser(ns)
    try:
        yield b
    finally:
        b.close()
