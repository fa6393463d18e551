"""ACK parsing of ``NetfilterSocket.transact`` on hand-made replies: every ACK is matched to its
request by sequence number, a cut-short one is an error code, never an exception or a hang."""

import errno
import struct

from nfacct_exporter.netlink import core
from nfacct_exporter.netlink.socket import acks


def ack(seq: int, code: int = 0) -> bytes:
    """NLMSG_ERROR with the request's header echoed (16 bytes of it here)."""
    return struct.pack("=IHHIIi", 36, core.NLMSG_ERROR, 0x100, seq, 0, -code) + bytes(16)


def test_acks_in_one_datagram_in_order() -> None:
    data = ack(1) + ack(2, errno.EEXIST) + ack(3, errno.EPERM)
    assert list(acks(data)) == [(1, 0), (2, errno.EEXIST), (3, errno.EPERM)]


def test_short_ack_is_an_error_code() -> None:
    short = struct.pack("=IHHII", 16, core.NLMSG_ERROR, 0, 4, 0)  # no room for the error
    assert list(acks(ack(3) + short)) == [(3, 0), (4, errno.EBADMSG)]
    cut = ack(5)[:18]  # the datagram ends inside the error code
    assert list(acks(cut)) == [(5, errno.EBADMSG)]


def test_broken_framing_stops_without_looping() -> None:
    zero = struct.pack("=IHHII", 0, core.NLMSG_ERROR, 0, 6, 0)  # length 0: would never advance
    assert list(acks(ack(1) + zero + ack(2))) == [(1, 0)]
    assert list(acks(b"")) == [] and list(acks(bytes(10))) == []
    other = struct.pack("=IHHII", 20, core.NLMSG_DONE, 0, 7, 0) + bytes(4)
    assert list(acks(other + ack(8))) == [(8, 0)]
