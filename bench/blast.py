"""What the NFLOG benches share: a namespace with ``log group`` rules, the compiled UDP sender
(``nflog_blast.c``) run inside it, the kernel's list of bound groups, and waiting for a
process to drain its backlog."""

import subprocess
import time
from pathlib import Path

from common import Lab, sched_seconds

from nfacct_exporter.config.nflog import NflogGroup

HERE = Path(__file__).parent
# ulogd2 gets the exporter's defaults (receive buffer, batching), so both read the kernel alike
RCVBUF, QTHRESHOLD = NflogGroup.rcvbuf, NflogGroup.qthreshold
QTIMEOUT_CS = round(NflogGroup.qtimeout * 100)  # ulogd counts hundredths of a second


class BlastLab(Lab):
    """``setup()`` of a subclass loads its rules with ``sh`` and calls ``compile_sender()``."""

    def compile_sender(self) -> None:
        self.blast = self.tmp / "blast"
        subprocess.run(["gcc", "-O2", "-o", str(self.blast), str(HERE / "nflog_blast.c")],
                       check=True)

    def sh(self, script: str) -> str:
        return subprocess.run(["ip", "netns", "exec", self.ns, "sh", "-ec", script], check=True,
                              capture_output=True, text=True).stdout

    def send(self, port: int, count: int, rate: int) -> tuple[int, float]:
        """``count`` datagrams to ``port`` at ``rate``/s (0: unpaced): (sent, seconds)."""
        out = self.sh(f"{self.blast} {port} {count} {rate} 0").split()
        return int(out[0]), float(out[1])

    def bound(self) -> set[int]:
        """NFLOG groups bound in the namespace, as the kernel lists them."""
        text = self.sh("cat /proc/net/netfilter/nfnetlink_log")
        return {int(line.split()[0]) for line in text.splitlines() if line.strip()}


def wait_idle(pid: int, quiet: float, timeout: float) -> float:
    """Until ``pid`` did no work for ``quiet`` seconds (sampled every ``quiet / 10``; a sample
    with less than a quarter of a core is idle: polls and timers): its backlog is drained.
    Returns when (``time.monotonic()``) its last busy sample ended."""
    step = quiet / 10
    start = last_busy = time.monotonic()
    cpu = sched_seconds(pid)
    while time.monotonic() - last_busy < quiet and time.monotonic() < start + timeout:
        time.sleep(step)
        now, c = time.monotonic(), sched_seconds(pid)
        if c - cpu > 0.25 * step:
            last_busy = now
        cpu = c
    return last_busy
