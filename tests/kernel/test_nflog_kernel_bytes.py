"""The ``struct`` NFLOG tally against the declared pyroute2 classes on bytes the kernel made:
iptables, ip6tables and nft log rules in a test namespace, UDP and TCP on loopback."""

import errno
import select
import subprocess
import time

import pytest

from nfacct_exporter.netlink import nflog
from nfacct_exporter.netlink.socket import NetfilterSocket
from tests.support.firewall import iptables_log, nft_log, tcp_exchange
from tests.support.nflog_ref import reference, tally_all

GROUP = 41
PREFIXES = {31401: "Input IPv4 Default DROP", 31402: 'q"uote \\ ünï', 31403: "new\nline",
            31404: ""}


def capture(sock: NetfilterSocket, want: int, timeout: float = 5.0) -> list[bytes]:
    """Datagrams until ``want`` packets arrived (counted by the reference decoder)."""
    out: list[bytes] = []
    deadline = time.monotonic() + timeout
    while sum(c[0] for c in reference(out)[0].values()) < want:
        assert time.monotonic() < deadline, f"only {reference(out)[0]} of {want} packets"
        if select.select([sock], [], [], 0.2)[0]:
            out.append(bytes(sock.recv()))
    return out


def test_tally_equals_reference_on_kernel_bytes(ns) -> None:  # noqa: ANN001
    iptables_log(ns, "iptables", "udp", 31401, GROUP, PREFIXES[31401])
    iptables_log(ns, "ip6tables", "udp", 31402, GROUP, PREFIXES[31402])
    nft_log(ns, "udp", 31403, GROUP, PREFIXES[31403])
    nft_log(ns, "tcp", 31404, GROUP, None)
    sock = ns.call(lambda: NetfilterSocket(rcvbuf=1 << 22))
    try:
        nflog.bind(sock, GROUP, qthreshold=50, qtimeout=5)
        ns.udp("127.0.0.1", 31401, b"a" * 100, count=30)
        ns.udp("::1", 31402, b"b" * 10, count=20)
        ns.udp("127.0.0.1", 31403, b"", count=7)
        tcp_exchange(ns, 31404, connections=2, rounds=3)
        data = capture(sock, 57 + 1)
        time.sleep(0.3)  # the rest of the TCP packets
        while select.select([sock], [], [], 0.3)[0]:
            data.append(bytes(sock.recv()))
    finally:
        sock.close()
    assert len(data) >= 2  # batches of several packets, and more than one datagram
    got, ref = tally_all(data), reference(data)
    assert got == ref
    counts, expect, lost = got
    assert lost == 0 and expect == sum(c[0] for c in counts.values())
    assert counts[b"Input IPv4 Default DROP\0"] == [30, 30 * 128]
    assert counts['q"uote \\ ünï\0'.encode()] == [20, 20 * (40 + 8 + 10)]
    assert counts[b"new\nline\0"] == [7, 7 * 28]
    assert counts[nflog.EMPTY][0] >= 2 * 3  # TCP: SYN, data, ACKs, FIN...


def test_second_bind_of_a_group_is_refused_with_a_clear_reason(ns) -> None:  # noqa: ANN001
    first = ns.call(NetfilterSocket)
    second = ns.call(NetfilterSocket)
    try:
        nflog.bind(first, GROUP, 10, 10)
        with pytest.raises(nflog.BindError) as e:
            nflog.bind(second, GROUP, 10, 10, " in network namespace 'x'")
        assert e.value.errno in (errno.EPERM, errno.EBUSY) and e.value.group == GROUP
        assert str(e.value).startswith(f"cannot bind NFLOG group {GROUP} in network namespace")
        assert "already bound" in str(e.value)
        first.close()  # the kernel frees the group with the socket
        nflog.bind(second, GROUP, 10, 10)
    finally:
        first.close()
        second.close()


def test_kernel_refuses_prefixes_over_127_bytes(ns) -> None:  # noqa: ANN001
    """Why the Prometheus overflow value (> 127 bytes) can never be a real prefix."""
    nft_log(ns, "udp", 31409, GROUP, "x" * 127)
    with pytest.raises(subprocess.CalledProcessError):
        nft_log(ns, "udp", 31409, GROUP, "x" * 128)
