"""Netlink bytes for fuzzing the decoders: valid datagrams built from the declared pyroute2
messages, garbage shaped like netlink, and the checks every decoder must pass on them.

Builders draw from a ``Choices`` (hypothesis' ``data`` in the suite, atheris' data provider in
``bench/fuzz.py``), so both fuzzers explore the same shapes.
"""

import os
import signal
import socket
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from pyroute2.netlink import NLM_F_MULTI

from nfacct_exporter.netlink import conntrack, core, nfacct, nflog, nft
from nfacct_exporter.netlink.socket import NetfilterSocket, NetlinkError, acks
from nfacct_exporter.records import NfacctObject, NftCounter
from tests.support import nflog_ref


def examples(n: int) -> int:
    """``n`` property examples, times ``FUZZ_SCALE`` (default 1) for a longer hunt."""
    return n * int(os.environ.get("FUZZ_SCALE", "1"))


DONE = struct.pack("=IHHII", 20, core.NLMSG_DONE, NLM_F_MULTI, 0, 0) + bytes(4)
TYPES = (nfacct.ACCT_NEW, nfacct.ACCT_OVERQUOTA, nft.NFT_NEWOBJ, nflog.ULOG_PACKET,
         conntrack.CT_GET_STATS_CPU,
         core.NLMSG_ERROR, core.NLMSG_DONE, 1, 0xFFFF)


class Choices(Protocol):
    def int(self, lo: int, hi: int) -> int: ...
    def bytes(self, lo: int, hi: int) -> bytes: ...


def _cstr(c: Choices, hi: int) -> bytes:
    return c.bytes(0, hi).replace(b"\0", b"x")


def _align(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


# --- valid datagrams, built by the declarations ----------------------------------------------

def nfacct_datagram(c: Choices) -> bytes:
    """NFACCT objects as a dump reply: the kernel's layout, or attributes in any order."""
    out = []
    for _ in range(c.int(0, 6)):
        attrs = [("NFACCT_NAME", _cstr(c, 31) or b"n"), ("NFACCT_PKTS", c.int(0, 2**64 - 1)),
                 ("NFACCT_BYTES", c.int(0, 2**64 - 1)), ("NFACCT_USE", c.int(0, 2**32 - 1))]
        if c.int(0, 1):
            attrs += [("NFACCT_FLAGS", c.int(0, 7)), ("NFACCT_QUOTA", c.int(0, 2**64 - 1))]
        for i in range(len(attrs) - 1, 0, -1) if c.int(0, 1) else ():
            j = c.int(0, i)
            attrs[i], attrs[j] = attrs[j], attrs[i]
        msg = nfacct.nfacct_msg()
        msg["attrs"] = attrs
        out.append(core.encode(msg, nfacct.ACCT_NEW, NLM_F_MULTI, 1))
    return b"".join(map(_align, out)) + (DONE if c.int(0, 1) else b"")


def nft_datagram(c: Choices) -> bytes:
    """Named objects as a GETOBJ dump reply: counters and other types, optional attributes."""
    out = []
    for _ in range(c.int(0, 5)):
        msg = nft.nft_obj_msg()
        msg["nfgen_family"] = c.int(0, 12)
        data = [(k, c.int(0, 2**64 - 1)) for k in ("NFTA_COUNTER_BYTES", "NFTA_COUNTER_PACKETS")
                if c.int(0, 3)]
        attrs = [("NFTA_OBJ_TABLE", _cstr(c, 40)), ("NFTA_OBJ_NAME", _cstr(c, 40)),
                 ("NFTA_OBJ_TYPE", 1 if c.int(0, 3) else c.int(0, 2**32 - 1)),
                 ("NFTA_OBJ_DATA", {"attrs": data}), ("NFTA_OBJ_USE", c.int(0, 9)),
                 ("NFTA_OBJ_HANDLE", c.int(0, 2**64 - 1))]
        msg["attrs"] = [a for a in attrs if c.int(0, 4)]
        out.append(core.encode(msg, nft.NFT_NEWOBJ, NLM_F_MULTI, 1))
    return b"".join(map(_align, out)) + (DONE if c.int(0, 1) else b"")


def nflog_datagrams(c: Choices) -> list[bytes]:
    """NFLOG packet datagrams as the kernel lays them out (prefix, seq, payload last)."""
    seq = c.int(0, 2**32 - 1)
    out = []
    for _ in range(c.int(1, 3)):
        pkts = []
        for _ in range(c.int(0, 5)):
            kind = c.int(0, 3)
            payload = (nflog_ref.ipv4(c.int(0, 65535)) if kind == 0 else
                       nflog_ref.ipv6(c.int(0, 65535)) if kind == 1 else
                       c.bytes(0, 12) if kind == 2 else None)
            prefix = _cstr(c, 63) if c.int(0, 4) else None
            pkts.append(nflog_ref.packet(c.int(0, 65535), seq if c.int(0, 5) else None,
                                         prefix, payload))
            seq = (seq + c.int(1, 3)) % 2**32
        out.append(nflog_ref.datagram(*pkts))
    return out


def conntrack_datagram(c: Choices) -> bytes:
    """Per-CPU conntrack statistics as a dump reply: any CPUs, any subset of the attributes."""
    cls = conntrack.ct_stats_cpu_msg
    out = []
    for _ in range(c.int(0, 4)):
        msg = cls()
        names = [n for n, _ in cls.nla_map[1:] if c.int(0, 2)]
        msg["attrs"] = [(n, c.int(0, 2**32 - 1)) for n in names]
        out.append(core.encode(msg, conntrack.CT_GET_STATS_CPU, NLM_F_MULTI, 1,
                               res_id=c.int(0, 65535)))
    return b"".join(map(_align, out)) + (DONE if c.int(0, 1) else b"")


# --- garbage -------------------------------------------------------------------------------

def _attrs(c: Choices, depth: int) -> bytes:
    out = b""
    for _ in range(c.int(0, 4)):
        atype = c.int(0, 24) | (0x8000 if c.int(0, 3) == 0 else 0)
        if depth and c.int(0, 2) == 0:
            body = _attrs(c, depth - 1)
            atype |= 0x8000
        else:
            body = c.bytes(0, 40)
        length = 4 + len(body)
        if c.int(0, 5) == 0:  # a lie: zero, below the header, past the end, huge
            length = (0, 1, 3, 4, length + 4, length + 200, 0xFFFF)[c.int(0, 6)]
        out += struct.pack("=HH", length, atype) + body + bytes(-len(body) % 4)
    return out


def garbage(c: Choices) -> bytes:
    """A datagram of netlink-shaped messages with random types, nested attributes and lengths
    that may lie; or a valid datagram mutated; or plain random bytes."""
    kind = c.int(0, 3)
    if kind == 0:
        return c.bytes(0, 300)
    if kind == 1:
        data = bytearray((nfacct_datagram, nft_datagram, conntrack_datagram)[c.int(0, 2)](c)
                         or b"".join(nflog_datagrams(c)))
        for _ in range(c.int(1, 4)):
            if not data:
                break
            at = c.int(0, len(data) - 1)
            what = c.int(0, 2)
            if what == 0:
                del data[at:]
            elif what == 1:
                data[at : at + 2] = c.int(0, 0xFFFF).to_bytes(2, "little")
            else:
                data[at] = c.int(0, 255)
        return bytes(data)
    out = b""
    for _ in range(c.int(1, 8)):
        body = bytes([c.int(0, 12), 0, 0, 0]) + _attrs(c, 2)
        length = 16 + len(body)
        if c.int(0, 4) == 0:
            length = (0, 4, 15, 16, 19, length + 8, 2**32 - 1)[c.int(0, 6)]
        out += struct.pack("=IHHII", length, TYPES[c.int(0, len(TYPES) - 1)],
                           c.int(0, 0xFFFF), 1 if c.int(0, 3) else c.int(0, 9), 0) + body
    return out[: c.int(0, len(out))] if c.int(0, 3) == 0 else out


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
        expect, lost, packets = nflog.tally(data, counts, lambda k: counts.setdefault(k, [0, 0]),
                                            0)
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
