"""A real ulogd2 with the JSON stack NFLOG→BASE→IFINDEX→IP2STR→JSON, one stack (and file) per
group, and the comparison of its events with ours."""

import os
import subprocess
import time
from datetime import datetime
from pathlib import Path

from tests.support.firewall import bound_groups
from tests.support.netns import Netns

PLUGINS = "/usr/lib/x86_64-linux-gnu/ulogd"
AVAILABLE = os.path.exists("/usr/sbin/ulogd") and os.path.exists(f"{PLUGINS}/ulogd_output_JSON.so")


def start(ns: Netns, tmp: Path, labels: dict[int, int]) -> tuple[subprocess.Popen, dict[int, Path]]:
    """ulogd2 binding each group of ``labels`` (group → numeric_label), boolean_label=1, each
    group's events in its own file; returns once the kernel lists every group as bound."""
    conf = [f'[global]\nlogfile="{tmp}/ulogd.log"']
    conf += [f'plugin="{PLUGINS}/ulogd_{p}.so"' for p in
             ("inppkt_NFLOG", "raw2packet_BASE", "filter_IFINDEX", "filter_IP2STR", "output_JSON")]
    files = {}
    for g in labels:
        conf.append(f"stack=log{g}:NFLOG,base{g}:BASE,ifi{g}:IFINDEX,ip2str{g}:IP2STR,json{g}:JSON")
    for g, label in labels.items():
        files[g] = tmp / f"ulogd-{g}.json"
        conf.append(f"[log{g}]\ngroup={g}\nnumeric_label={label}")
        conf.append(f'[json{g}]\nsync=1\nfile="{files[g]}"\nboolean_label=1')
    path = tmp / "ulogd.conf"
    path.write_text("\n".join(conf) + "\n")
    proc = ns.popen(["ulogd", "-c", str(path)], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not set(labels) <= bound_groups(ns):
        log = tmp / "ulogd.log"
        assert proc.poll() is None and time.monotonic() < deadline, \
            log.read_text() if log.exists() else "ulogd did not start"
        time.sleep(0.05)
    return proc, files


def compare(ours: list[dict], theirs: list[dict]) -> None:
    """Packet by packet: every key ulogd wrote is in ours, in ulogd's order, with its value
    (``dvc`` aside; the time within a second: without a kernel timestamp each reads its clock)."""
    assert len(ours) == len(theirs), (len(ours), len(theirs))
    for o, t in zip(ours, theirs, strict=True):
        keys = [k for k in t if k != "dvc"]
        assert [k for k in o if k in t and k != "dvc"] == keys, (o, t)
        for k in keys:
            if k == "timestamp":
                dt = abs(datetime.fromisoformat(o[k]) - datetime.fromisoformat(t[k]))
                assert dt.total_seconds() < 1.0, (k, o[k], t[k])
            elif k not in ("oob.time.sec", "oob.time.usec"):  # the timestamp says it
                assert o[k] == t[k], (k, o[k], t[k], o, t)
