"""Loopback UDP that moves every NFACCT counter: one ``-m nfacct`` rule per object in a chain
that only this traffic enters, and a paced sender on a socket pair of its own."""

import contextlib
import socket
import subprocess
import threading
from collections.abc import Iterator

TRAFFIC_PPS = 5  # each packet crosses every rule: every counter changes at every poll
TRAFFIC_PORT = 5999  # UDP port of the traffic (the namespace is ours: nothing else uses it)


def add_rules(names: list[str]) -> None:
    """One ``-m nfacct`` rule per object (iptables-restore: 10k rules in ~0.4 s).

    In a chain only the benchmark's UDP traffic enters: every packet crossing 10k rules costs
    ~1.2 ms here, which the daemons' own TCP traffic to their sinks must not pay.
    """
    rules = (f"*filter\n:OUTPUT ACCEPT [0:0]\n:NFBENCH - [0:0]\n"
             f"-A OUTPUT -p udp --dport {TRAFFIC_PORT} -j NFBENCH\n")
    rules += "".join(f"-A NFBENCH -m nfacct --nfacct-name {n}\n" for n in names) + "COMMIT\n"
    subprocess.run(["iptables-restore"], input=rules.encode(), check=True)


def remove_rules() -> None:
    subprocess.run(["iptables", "-F"], check=True)
    subprocess.run(["iptables", "-X", "NFBENCH"], check=True)


@contextlib.contextmanager
def traffic(pps: int) -> Iterator[None]:
    """Loopback UDP at ``pps``: with one nfacct rule per object in OUTPUT, all counters move.

    Sent to a socket of ours, which reads them: a closed port would answer with ICMP errors that
    cross the 10k rules again in softirq context, charged to whichever process runs then.
    """
    stop = threading.Event()

    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            rx.bind(("127.0.0.1", TRAFFIC_PORT))
            rx.setblocking(False)
            while not stop.wait(1 / pps):
                tx.sendto(b"x" * 64, ("127.0.0.1", TRAFFIC_PORT))
                with contextlib.suppress(BlockingIOError):
                    rx.recv(2048)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()
