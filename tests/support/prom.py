"""A real Prometheus (Debian ``prometheus``) inside a test namespace, scraping our exporter."""

import json
import urllib.parse
from pathlib import Path
from typing import Any

from tests.support.netns import Netns
from tests.support.waiting import until

CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
{rules}
scrape_configs:
  - job_name: nfacct
    static_configs:
      - targets: ["{target}"]
"""


class Prometheus:
    def __init__(self, ns: Netns, tmp: Path, target: str, port: int,
                 rule_files: list[str] | None = None) -> None:
        self.ns = ns
        self.url = f"http://127.0.0.1:{port}"
        d = tmp / "prom"
        d.mkdir(exist_ok=True)
        rules = "rule_files:\n" + "".join(f"  - {f}\n" for f in rule_files) if rule_files else ""
        (d / "prometheus.yml").write_text(CONFIG.format(target=target, rules=rules))
        self.log = d / "prometheus.log"
        self.proc = ns.popen(
            ["prometheus", f"--config.file={d / 'prometheus.yml'}",
             f"--storage.tsdb.path={d / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--storage.tsdb.retention.time=1h"],
            stdout=self.log.open("wb"), stderr=self.log.open("ab"))
        proc = self.proc
        until(lambda: self.ns.http(self.url + "/-/ready", timeout=1)[0] == 200, 30,
              "prometheus to be ready", ignore=(OSError,),
              alive=lambda: None if proc.poll() is None else self.log.read_text()[-2000:])

    def query(self, expr: str) -> list[dict[str, Any]]:
        status, _, body = self.ns.http(
            self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        doc = json.loads(body)
        assert status == 200 and doc["status"] == "success", (expr, doc)
        return doc["data"]["result"]

    def wait_query(self, expr: str, predicate=bool, timeout: float = 30.0):  # noqa: ANN001
        """Query until ``predicate(result)`` holds (the first scrape comes ~5 s after start)."""
        last: list = []

        def probe() -> list[dict[str, Any]] | None:
            last[:] = self.query(expr)
            return last if predicate(last) else None
        try:
            return until(probe, timeout, expr, 0.5)
        except AssertionError:
            raise AssertionError(f"{expr}: last result {last}") from None
