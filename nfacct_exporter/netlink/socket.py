"""A raw NETLINK_NETFILTER socket: the one owner of netlink I/O for a source.

A raw socket rather than pyroute2's: pyroute2 sockets are per thread (another thread silently opens
a second socket and leaks its fd) and are dead for good after one ENOBUFS. Requests are built from
the declarations of each subsystem module; replies are handed back as raw datagrams so the hot
paths can decode them with ``struct``. Dumps and transactions wait at most ``timeout`` seconds
for the kernel, then fail with ETIMEDOUT.
"""

import errno
import itertools
import os
import socket
from collections.abc import Callable, Iterator

from nfacct_exporter.netlink import core
from nfacct_exporter.netlink import netns as _netns

NETLINK_NETFILTER = 12
# linux/netlink.h: socket options at SOL_NETLINK
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_NO_ENOBUFS = 5
SO_RCVBUFFORCE = 33
RECV_SIZE = 1 << 16  # dump datagrams are at most 32 KiB (the kernel's cap); one buffer a socket
TIMEOUT = 5.0


class NetlinkError(OSError):
    """The kernel answered a request with an error, or not at all (ETIMEDOUT)."""


class NetfilterSocket:
    """NETLINK_NETFILTER socket opened in ``netns`` (None = the caller's namespace)."""

    def __init__(self, netns: str | None = None, rcvbuf: int = 0,
                 timeout: float = TIMEOUT) -> None:
        with _netns.entered(netns):
            self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        try:
            self._sock.bind((0, 0))
            if rcvbuf:
                self.set_rcvbuf(rcvbuf)
            self._sock.settimeout(timeout)
        except OSError:
            self._sock.close()
            raise
        self.timeout = timeout
        self._seq = itertools.count(1)
        self._dump_seq = 0  # 0: the next dump takes a new sequence number
        self._buf = bytearray(RECV_SIZE)
        self.recv_into = self._sock.recv_into  # the NFLOG listener's hot path: no wrapper

    def set_rcvbuf(self, size: int) -> None:
        """SO_RCVBUFFORCE (root) beyond rmem_max, falling back to SO_RCVBUF."""
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
        except PermissionError:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)

    def subscribe(self, group: int) -> None:
        """Join multicast ``group`` (nfnetlink's NFNLGRP_*): the kernel's announcements arrive
        on this socket."""
        self._sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)

    def no_enobufs(self) -> None:
        """NETLINK_NO_ENOBUFS: a full receive buffer drops the kernel's datagram silently,
        instead of failing the next receive (kernels before 3.2 refuse it: OSError)."""
        self._sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)

    def set_blocking(self, blocking: bool) -> None:
        """Non-blocking: ``recv`` raises BlockingIOError when nothing is queued. Blocking: it
        waits at most ``timeout``."""
        self._sock.settimeout(self.timeout if blocking else 0.0)

    def next_seq(self) -> int:
        return next(self._seq)

    def dump_seq(self) -> int:
        """The sequence number of the next dump: the last dump's while every dump ran to its
        end, so an unchanged dump comes back byte for byte the same (the kernel copies it into
        every reply header) and decoders can reuse what they made of it; a new one once a dump
        was abandoned, so that dump's leftovers are told apart as stale."""
        if not self._dump_seq:
            self._dump_seq = self.next_seq()
        return self._dump_seq

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def send(self, data: bytes) -> None:
        self._sock.send(data)

    def recv(self) -> memoryview:
        """One datagram, as a view into the socket's reusable buffer (valid until the next recv)."""
        n = self._sock.recv_into(self._buf)
        return memoryview(self._buf)[:n]

    def _reply(self) -> memoryview:
        """``recv`` for an answer the kernel owes us: a silent kernel is an error, not a hang."""
        try:
            return self.recv()
        except TimeoutError:
            raise NetlinkError(errno.ETIMEDOUT, f"the kernel did not answer within "
                               f"{self.timeout:g} s") from None

    def dump(self, request: bytes) -> Iterator[memoryview]:
        """Send a dump request; yield each reply datagram (NLMSG_DONE ends it, errors raise).

        Consumers decode the datagram before asking for the next one: the view is reused.
        """
        self.send(request)
        seq = core.NLMSG.unpack_from(request)[3]
        try:
            while True:
                data = self._reply()
                if _stale(data, seq):
                    continue
                done = False
                off = 0
                while off + 16 <= len(data):
                    length = core.NLMSG.unpack_from(data, off)[0]
                    if length < 16:
                        break
                    done = _control(data, off) or done
                    off += (length + 3) & ~3
                yield data
                if done:
                    return
        except BaseException:  # abandoned (an error, or the consumer stopped early)
            self._dump_seq = 0
            raise

    def dump_into(self, request: bytes, consume: Callable[[bytes, int], int]) -> None:
        """Send a dump request and hand each reply datagram to ``consume(data, offset)``.

        ``consume`` decodes the messages it knows from ``offset`` on and returns the offset of the
        first one it does not (NLMSG_DONE, NLMSG_ERROR, anything else): only those are looked at
        here, so the message headers are walked once, by the decoder (``dump`` walks them twice).
        """
        self.send(request)
        seq = core.NLMSG.unpack_from(request)[3]
        try:
            while True:
                data = bytes(self._reply())
                if _stale(data, seq):
                    continue
                done = False
                off = 0
                while off + 16 <= len(data):
                    off = consume(data, off)
                    if off + 16 > len(data):
                        break
                    length = core.NLMSG.unpack_from(data, off)[0]
                    if length < 16:
                        break
                    done = _control(data, off) or done
                    off += (length + 3) & ~3
                if done:
                    return
        except BaseException:  # abandoned: its leftovers must look stale to the next dump
            self._dump_seq = 0
            raise

    def transact(self, requests: list[bytes], batch: int = 100) -> list[int]:
        """Send requests asking for ACKs, ``batch`` at a time; return exactly one errno per
        request, in order (0 = ok; ETIMEDOUT = no ACK within ``timeout``; EBADMSG = an ACK cut
        short). ACKs are matched to requests by sequence number: stale ones are skipped.

        Batches of 100: measured here, 500 requests in one send overflowed the ack buffer.
        """
        seqs = [core.NLMSG.unpack_from(r)[3] for r in requests]
        results: dict[int, int] = {}
        for i in range(0, len(requests), batch):
            pending = set(seqs[i : i + batch])
            self.send(b"".join(requests[i : i + batch]))
            while pending:
                try:
                    data = self._reply()
                except NetlinkError as e:
                    if e.errno != errno.ETIMEDOUT:
                        raise
                    results.update(dict.fromkeys(pending, errno.ETIMEDOUT))
                    break
                for seq, code in acks(data):
                    if seq in pending:
                        pending.discard(seq)
                        results[seq] = code
        return [results[s] for s in seqs]


def acks(data: bytes | memoryview) -> Iterator[tuple[int, int]]:
    """(sequence number, errno) of every NLMSG_ERROR message (an ACK when errno is 0) in one
    datagram; an ACK too short to hold its error code gives EBADMSG."""
    off = 0
    while off + 16 <= len(data):
        length, mtype, _flags, seq, _pid = core.NLMSG.unpack_from(data, off)
        if length < 16:
            return
        if mtype == core.NLMSG_ERROR:
            if length >= 20 and off + 20 <= len(data):
                yield seq, -core.ERRNO.unpack_from(data, off + 16)[0]
            else:
                yield seq, errno.EBADMSG
        off += (length + 3) & ~3


def _stale(data: bytes | memoryview, seq: int) -> bool:
    """A datagram that does not answer our request (left over from an abandoned one): skipped.

    All messages of one datagram answer the same request, so the first header tells.
    """
    return len(data) < 16 or core.NLMSG.unpack_from(data)[3] != seq


def _control(data: bytes | memoryview, off: int) -> bool:
    """Look at one message of a dump reply: True if it ends the dump; raise if it is an error."""
    _length, mtype, flags, _seq, _pid = core.NLMSG.unpack_from(data, off)
    if mtype == core.NLMSG_DONE:
        if flags & core.NLM_F_DUMP_INTR:
            raise NetlinkError(errno.EINTR, "dump interrupted by a concurrent change")
        return True
    if mtype == core.NLMSG_ERROR:
        if off + 20 > len(data):
            raise NetlinkError(errno.EBADMSG, "error message cut short")
        code = -core.ERRNO.unpack_from(data, off + 16)[0]
        if code:
            raise NetlinkError(code, os.strerror(code))
        return True
    return False
