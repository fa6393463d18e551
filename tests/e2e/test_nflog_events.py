"""The seed's accept/drop example run by the daemon alone: groups 1 (accept) and 2 (drop) are
counted and their packets written as JSON lines; a real ulogd2 logs the same packets (groups 11
and 12, numeric_label 1 and 0, boolean_label=1) and a consumer of our file sees its events."""

import json
import signal
import socket

import pytest

from tests.support import ulogd
from tests.support.firewall import nflog_series, settle

pytestmark = pytest.mark.skipif(not ulogd.AVAILABLE, reason="ulogd2 and ulogd2-json needed")


def config(path) -> str:  # noqa: ANN001
    return f"""\
pollinterval: 0.2
nflog:
  - group: 1
    verdict: accept
    events:
      file: {path}
  - group: 2
    verdict: drop
    events:
      file: {path}
      dvc: "My awesome FW"
"""


def seed_rules(ns, tool: str) -> None:  # noqa: ANN001
    for port, prefix, groups in ((8080, "http-accept", (1, 11)), (8081, "drop-8081", (2, 12))):
        for g in groups:
            ns.run(tool, "-A", "INPUT", "-i", "lo", "-p", "tcp", "--dport", str(port), "--syn",
                   "-j", "NFLOG", "--nflog-prefix", prefix, "--nflog-group", str(g))
    ns.run(tool, "-A", "INPUT", "-i", "lo", "-p", "tcp", "--dport", "8081", "-j", "DROP")


def traffic(ns, host: str) -> None:  # noqa: ANN001
    def run() -> None:
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        srv = socket.socket(fam)
        srv.bind((host, 8080))
        srv.listen()
        for _ in range(3):
            socket.create_connection((host, 8080)).close()
        srv.close()
        with pytest.raises(OSError):  # dropped: the SYN and its retransmission are logged
            socket.create_connection((host, 8081), timeout=1.5)
    ns.call(run)


def lines(path) -> list[dict]:  # noqa: ANN001
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_seed_accept_drop_events_match_ulogd2(ns, exporter, tmp_path) -> None:  # noqa: ANN001
    seed_rules(ns, "iptables")
    seed_rules(ns, "ip6tables")
    _proc, theirs = ulogd.start(ns, tmp_path, {11: 1, 12: 0})
    ours = tmp_path / "nflog.json"
    exp = exporter(config(ours))
    traffic(ns, "127.0.0.1")
    traffic(ns, "::1")
    want = settle(lambda: (len(lines(theirs[11])), len(lines(theirs[12])), len(lines(ours))),
                  quiet=1.0)
    assert want[0] == 6 and want[1] >= 4 and want[2] == want[0] + want[1]
    mine = lines(ours)
    ulogd.compare([d for d in mine if d["action"] == "allowed"], lines(theirs[11]))
    ulogd.compare([d for d in mine if d["action"] == "blocked"], lines(theirs[12]))
    assert {d["dvc"] for d in mine if d["action"] == "blocked"} == {"My awesome FW"}
    samples = exp.wait_for(lambda s: s if nflog_series(s).get((2, "drop-8081", "drop"),
                                                           (0,))[0] == want[1] else None)
    written = {dict(lbl)["group"]: v for (m, lbl), v in samples.items()
               if m == "nflog_events_written_total"}
    assert written == {"1": want[0], "2": want[1]}
    assert all(v == 0 for (m, _), v in samples.items() if m == "nflog_events_dropped_total")
    assert nflog_series(samples)[(1, "http-accept", "accept")][0] == want[0]

    ours.rename(tmp_path / "nflog.json.1")  # logrotate without copytruncate, then SIGHUP
    exp.proc.send_signal(signal.SIGHUP)
    exp.wait_until(lambda: ours.exists())
    traffic(ns, "127.0.0.1")
    settle(lambda: len(lines(ours)), quiet=1.0)
    assert len(lines(ours)) >= 5 and len(lines(tmp_path / "nflog.json.1")) == want[2]
