"""The one runner of the real exporter in a test namespace (extra flags, environment, a wrapper
such as the seccomp sandbox); stopped by PID when the namespace is cleaned up."""

import http.client
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.support.exposition import Samples, parse_exposition
from tests.support.netns import Netns, exporter_argv, free_port
from tests.support.waiting import until


class Daemon:
    """``Daemon(ns, tmp, config)`` starts it; ``ready()`` waits until ``/metrics`` answers."""

    def __init__(self, ns: Netns, tmp: Path, config: str, args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, prefix: tuple[str, ...] = (),
                 listen: bool = True) -> None:
        self.ns = ns
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp / "config.yaml"
        self.config.write_text(config)
        self.log = tmp / "exporter.log"
        argv = exporter_argv(str(self.config), f"127.0.0.1:{self.port}")
        if not listen:
            argv = argv[:-2]
        full_env = {**os.environ, **(env or {})}
        self.proc = ns.popen([*prefix, *argv, *args], stdout=self.log.open("wb"),
                             stderr=subprocess.STDOUT, env=full_env)

    def output(self) -> str:
        return self.log.read_text()

    def wait_exit(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)

    def _alive(self) -> str | None:
        return None if self.proc.poll() is None else f"exporter exited: {self.output()}"

    def wait_until(self, probe: Any, timeout: float = 15.0) -> Any:
        """Call ``probe()`` until it returns something truthy (exceptions count as not yet)."""
        try:
            return until(probe, timeout, "the exporter", 0.05,
                         (OSError, AssertionError, http.client.HTTPException),
                         self._alive)
        except AssertionError as e:
            if self.proc.poll() is not None:
                raise
            raise AssertionError(f"{e}; log:\n{self.output()}") from None

    def ready(self) -> "Daemon":
        self.wait_until(lambda: self.ns.http(self.url + "/metrics", timeout=1)[0] == 200)
        return self

    def text(self) -> str:
        status, _, body = self.ns.http(self.url + "/metrics")
        assert status == 200
        return body.decode()

    def samples(self) -> Samples:
        return parse_exposition(self.text())

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> Any:
        """Scrape until ``predicate(samples)`` is truthy; return that value."""
        try:
            return until(lambda: predicate(self.samples()), timeout, "a scrape condition")
        except AssertionError:
            raise AssertionError("condition not met; last scrape:\n" + self.text()) from None
