"""The decoders of kernel bytes driven as the sources drive them, their references (the
declared pyroute2 messages), and the checks every decoder must pass on any datagram: no
exception, bounded time, sane output; the socket's dump and ACK loops over a fake kernel."""

import signal
import socket
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from nfacct_exporter.netlink import conntrack, nfacct, nflog_tally, nft
from nfacct_exporter.netlink.socket import NetfilterSocket, NetlinkError, acks
from nfacct_exporter.records import NfacctObject, NftCounter

# --- references: the declared pyroute2 messages ---------------------------------------------

def messages(data: bytes, mtype: int) -> Iterator[bytes]:
    off = 0
    while off + 16 <= len(data):
        length, t = struct.unpack_from("=IH", data, off)
        if length < 16 or off + length > len(data):
            return
        if t == mtype:
            yield data[off : off + length]
        off += (length + 3) & ~3


def _text(v: str | bytes | None) -> str:
    return v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else v or ""


def nfacct_reference(data: bytes) -> list[NfacctObject]:
    out = []
    for raw in messages(data, nfacct.ACCT_NEW):
        m = nfacct.nfacct_msg(raw)
        m.decode()
        flags, quota = m.get_attr("NFACCT_FLAGS") or 0, m.get_attr("NFACCT_QUOTA")
        unit = ("packets" if flags & nfacct.NFACCT_F_QUOTA_PKTS else
                "bytes" if flags & nfacct.NFACCT_F_QUOTA_BYTES else None)
        use = m.get_attr("NFACCT_USE") or 0
        out.append(NfacctObject(_text(m.get_attr("NFACCT_NAME")), m.get_attr("NFACCT_PKTS") or 0,
                                m.get_attr("NFACCT_BYTES") or 0, flags, quota,
                                unit if quota is not None else None,
                                bool(flags & nfacct.NFACCT_F_OVERQUOTA), use - 1 if use else 0))
    return out


def nft_reference(data: bytes) -> list[NftCounter]:
    out = []
    for raw in messages(data, nft.NFT_NEWOBJ):
        m = nft.nft_obj_msg(raw)
        m.decode()
        if m.get_attr("NFTA_OBJ_TYPE") != nft.NFT_OBJECT_COUNTER:
            continue
        d = m.get_attr("NFTA_OBJ_DATA")
        counter = dict(d["attrs"]) if d else {}
        family = nft.NFPROTO_NAMES.get(m["nfgen_family"], str(m["nfgen_family"]))
        out.append(NftCounter(family, _text(m.get_attr("NFTA_OBJ_TABLE")),
                              _text(m.get_attr("NFTA_OBJ_NAME")),
                              counter.get("NFTA_COUNTER_PACKETS", 0),
                              counter.get("NFTA_COUNTER_BYTES", 0)))
    return out


def conntrack_reference(data: bytes) -> dict[int, dict[str, int]]:
    numbers = {n: i for i, (n, _) in enumerate(conntrack.ct_stats_cpu_msg.nla_map)}
    out: dict[int, dict[str, int]] = {}
    for raw in messages(data, conntrack.CT_GET_STATS_CPU):
        m = conntrack.ct_stats_cpu_msg(raw)
        m.decode()
        values = out.setdefault(m["res_id"], {})
        for name, value in m["attrs"]:
            if numbers[name] in conntrack.CPU_STATS:
                values[conntrack.CPU_STATS[numbers[name]]] = value
    return out


def conntrack_fast(data: bytes) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    conntrack.decode(data, conntrack.CT_GET_STATS_CPU, conntrack.CPU_STATS, out)
    return out


# --- the fast decoders, driven as the sources drive them ------------------------------------

def nfacct_fast(data: bytes) -> list[NfacctObject]:
    """``nfacct.decode`` stepping over what is not an object, as ``dump_into`` does."""
    out: list[NfacctObject] = []
    off = 0
    while off + 16 <= len(data):
        new = nfacct.decode(data, out, off)
        assert new >= off, (off, new)
        off = new
        if off + 16 > len(data):
            break
        length = struct.unpack_from("=I", data, off)[0]
        if length < 16:
            break
        off += (length + 3) & ~3
    return out


def nft_fast(data: bytes) -> list[NftCounter]:
    out: list[NftCounter] = []
    nft.decode(data, out)
    return out


# --- the checks -----------------------------------------------------------------------------

@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Fail (TimeoutError) if the body takes longer: a decoder loop that does not advance."""
    def expired(_sig: int, _frame: object) -> None:
        raise TimeoutError(f"did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def survives(data: bytes) -> None:
    """Every decoder of kernel bytes on one datagram: no exception, bounded time, sane output."""
    with within(2.0):
        nfacct_fast(data)
        list(nfacct.announced(data))
        nft_fast(data)
        conntrack_fast(data)
        counts: dict[bytes, list[int]] = {}
        expect, lost, packets = nflog_tally.tally(
            data, counts, lambda k: counts.setdefault(k, [0, 0]), 0)
        assert 0 <= expect < 2**32 and packets >= 0 and 0 <= lost < 2**32 * max(packets, 1)
        assert sum(c[0] for c in counts.values()) == packets
        for seq, code in acks(data):
            assert isinstance(seq, int) and isinstance(code, int)


class FakeKernel:
    """A NetfilterSocket whose kernel is a datagram socketpair: replies are queued by the test,
    requests land on the other end unread."""

    def __init__(self, timeout: float = 0.02) -> None:
        self.sock = NetfilterSocket(timeout=timeout)
        self.sock._sock.close()
        self.sock._sock, self._kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock._sock.settimeout(timeout)

    def queue(self, *datagrams: bytes) -> None:
        for d in datagrams:
            self._kernel.send(d)

    def drain(self) -> None:
        """Forget the requests and any reply left unread."""
        for s in (self._kernel, self.sock._sock):
            s.setblocking(False)
            try:
                while True:
                    s.recv(1 << 16)
            except BlockingIOError:
                pass
        self.sock._sock.settimeout(self.sock.timeout)

    def close(self) -> None:
        self.sock.close()
        self._kernel.close()


def with_seq(data: bytes, seq: int) -> bytes:
    """The datagram answering request ``seq`` (its first header carries it)."""
    return data[:8] + struct.pack("=I", seq) + data[12:] if len(data) >= 16 else data


def socket_survives(kernel: FakeKernel, datagrams: list[bytes]) -> None:
    """``dump_into``, ``dump`` and ``transact`` on replies the test chose: each returns or
    raises NetlinkError, within bounded time; ``transact`` gives one errno per request."""
    sock = kernel.sock
    drive: list[Callable[[], object]] = [
        lambda: sock.dump_into(nfacct.acct_dump_request(1),
                               lambda d, off: nfacct.decode(d, [], off)),
        lambda: [nft.decode(d, []) for d in sock.dump(nft.counters_dump_request(1))],
    ]
    with within(5.0):
        for run in drive:
            kernel.drain()
            kernel.queue(*(with_seq(d, 1) for d in datagrams))
            try:
                run()
            except NetlinkError as e:
                assert e.errno
        kernel.drain()
        kernel.queue(*datagrams)
        requests = [nfacct.acct_new_request("x", seq) for seq in range(1, 6)]
        codes = sock.transact(requests)
        assert len(codes) == 5 and all(isinstance(c, int) for c in codes)
