"""Polls that reuse the last poll's decoding stay exact: objects changing and not changing,
every object changing, an object deleted and made again under its name (lower counters), a quota
object appearing. After every poll, the records, the Graphite lines and the Prometheus text
equal what ``nfacct list`` reports."""

import re

from nfacct_exporter import config
from nfacct_exporter.netlink import nfacct
from nfacct_exporter.netlink.nfacct_dumper import Layout
from nfacct_exporter.netlink.socket import NetfilterSocket
from nfacct_exporter.sinks.graphite import NfacctLines
from nfacct_exporter.sinks.prometheus.nfacct import NfacctRenderer
from nfacct_exporter.snapshot import Snapshot
from nfacct_exporter.sources.nfacct import NfacctSource
from tests.support.exposition import samples
from tests.support.firewall import kernel_counters

N = 1200  # ~450 objects per 32 KiB dump datagram: three datagrams, and a part of one
PORT = 30011
NAMES = [f"o{i:04d}" for i in range(N)]
LINE = re.compile(r"^nf\.(\S+)\.(pkts|bytes) (\d+) (\d+)$")


class Poller:
    """The daemon's NFACCT path in this process: source → Graphite lines and Prometheus text."""

    def __init__(self, ns, sock: NetfilterSocket) -> None:  # noqa: ANN001
        self.ns, self.sock = ns, sock
        self.src = NfacctSource()
        ns.call(self.src.open)
        self.lines = NfacctLines(config.GraphiteConfig(host="h", prefix="nf"), ())
        self.prom = NfacctRenderer(())
        self.records: tuple = ()
        self.seq = 0

    def poll(self) -> dict[str, tuple[int, int]]:
        """One poll, checked against the kernel read before and after it (traffic is over by
        then, so both agree); returns the kernel's values."""
        for _ in range(5):
            before = kernel_counters(self.ns)
            reading = self.ns.call(self.src.read)
            after = kernel_counters(self.ns)
            if before == after:
                break
        assert reading.ok and before == after
        self.seq += 1
        ts = 1_800_000_000 + self.seq
        chunk = self.lines.chunk(Snapshot(self.seq, ts, 0.0, {"nfacct": reading})).decode()
        graphite: dict[str, list[int]] = {}
        for line in chunk.splitlines():
            m = LINE.match(line)
            if m is None:
                assert ".quota " in line or ".overquota " in line, line
                continue
            assert int(m.group(4)) == ts, line
            graphite.setdefault(m.group(1), [0, 0])[m.group(2) == "bytes"] = int(m.group(3))
        prom: dict[str, list[int]] = {}
        for (metric, labels), value in samples(b"".join(self.prom.render([reading]))).items():
            if metric in ("nfacct_packets_total", "nfacct_bytes_total"):
                prom.setdefault(dict(labels)["name"], [0, 0])[metric.startswith("nfacct_b")] = \
                    int(value)
        records = {o.name: (o.packets, o.bytes) for o in reading.records}
        assert records == before
        assert list(reading.records) == nfacct.dump(self.sock)  # every field, decoded afresh
        assert {k: tuple(v) for k, v in graphite.items()} == before
        assert {k: tuple(v) for k, v in prom.items()} == before
        assert chunk.count("\n") == 2 * len(before) + 2 * sum(
            o.quota is not None for o in reading.records)
        self.records = reading.records
        return before


def rules(ns, names: list[str]) -> None:  # noqa: ANN001
    body = "".join(f"-A INPUT -p udp --dport {PORT} -m nfacct --nfacct-name {n}\n"
                   for n in names)
    ns.run("iptables-restore", input=f"*filter\n:INPUT ACCEPT [0:0]\n{body}COMMIT\n")


def test_reused_polls_equal_the_kernel(ns) -> None:  # noqa: ANN001
    sock = ns.call(NetfilterSocket)
    try:
        assert not any(ns.call(lambda: nfacct.create(sock, NAMES)))
        p = Poller(ns, sock)
        p.poll()
        first = p.records
        p.poll()  # nothing changed: the very same records
        assert all(a is b for a, b in zip(first, p.records, strict=True))

        rules(ns, NAMES[:3] + NAMES[700:702])  # a few objects change, the rest do not
        ns.udp("127.0.0.1", PORT, b"x" * 10, count=3)
        kernel = p.poll()
        assert kernel[NAMES[0]] == (3, 3 * 38) and kernel[NAMES[700]] == (3, 3 * 38)
        assert p.records[-1] is first[-1]  # its datagram did not change
        p.poll()

        rules(ns, NAMES)  # every object changes at every poll
        for count in (1, 2, 1):
            ns.udp("127.0.0.1", PORT, b"y" * 20, count=count)
            p.poll()
        assert {o.rules for o in p.records} == {1}  # USE - 1: one rule each
        # only the counters were read: the datagrams' compiled layouts were used
        assert sum(isinstance(seen.layout, Layout) for seen in p.src.dump._last) >= 2

        last = NAMES[-1]  # made again under its name: the same place, lower counters
        rules(ns, NAMES[:-1])
        ns.run("nfacct", "del", last)
        ns.run("nfacct", "add", last)
        assert p.poll()[last] == (0, 0)
        ns.udp("127.0.0.1", PORT, b"z", count=2)
        p.poll()

        code = ns.call(lambda: sock.transact([nfacct.acct_new_request(
            "quota.month", sock.next_seq(), quota=1, quota_bytes=False)]))
        assert code == [0]
        rules(ns, NAMES[:-1] + ["quota.month"])
        kernel = p.poll()  # a quota object appears (its own layout)
        assert kernel["quota.month"] == (0, 0)
        ns.udp("127.0.0.1", PORT, b"q", count=3)
        p.poll()
        p.poll()
        quota = [o for o in p.records if o.name == "quota.month"]
        assert quota[0].over_quota and quota[0].quota == 1
        assert p.src.dump.errors == 0
    finally:
        sock.close()
