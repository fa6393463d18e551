"""The dumper's reuse of the last dump: a datagram that differs only in packet and byte counts
is read through its compiled layout, anything else (a rule added: USE; another name of the same
length) is decoded afresh, and every poll equals a fresh decoding of the same bytes."""

import struct

from nfacct_exporter.netlink import core, nfacct
from nfacct_exporter.netlink.nfacct_dumper import Dumper, Layout


def acct(name: bytes, pkts: int, nbytes: int, use: int) -> bytes:
    """One object's message in the kernel's layout (no quota)."""
    attrs = (core.attr(nfacct.NFACCT_NAME, name + b"\0")
             + core.attr(nfacct.NFACCT_PKTS, struct.pack(">Q", pkts))
             + core.attr(nfacct.NFACCT_BYTES, struct.pack(">Q", nbytes))
             + core.attr(nfacct.NFACCT_USE, struct.pack(">I", use)))
    return core.NLMSG.pack(20 + len(attrs), nfacct.ACCT_NEW, 2, 1, 0) + bytes(4) + attrs


class Replay:
    """A socket whose dump is one datagram of objects, then NLMSG_DONE."""

    def __init__(self, datagram: bytes) -> None:
        self.datagram = datagram

    def dump_seq(self) -> int:
        return 1

    def dump_into(self, request: bytes, consume) -> None:  # noqa: ANN001
        assert consume(self.datagram, 0) == len(self.datagram)
        done = core.NLMSG.pack(20, core.NLMSG_DONE, 2, 1, 0) + bytes(4)
        assert consume(done, 0) == 0


def test_counter_changes_use_the_layout_and_use_changes_decode_again() -> None:
    names = [b"a", b"bb", b"ccc", b"dddd", b"eeeee"]
    polls = [  # (name, packets, bytes, use) of each object, poll by poll
        [(n, 0, 0, 1) for n in names],
        [(n, i, 10 * i, 1) for i, n in enumerate(names)],  # counters only: the layout
        [(n, i + 1, 10 * i + 7, 1) for i, n in enumerate(names)],
        [(n, i + 1, 10 * i + 7, 3 if n == b"ccc" else 1) for i, n in enumerate(names)],  # rules
        [(n, i + 2, 2**63 + i, 3 if n == b"ccc" else 1) for i, n in enumerate(names)],
        [(b"xyz" if n == b"ccc" else n, 5, 5, 1) for n in names],  # same length, other name
    ]
    dumper = Dumper()
    layouts = []
    for objects in polls:
        datagram = b"".join(acct(*o) for o in objects)
        fresh: list = []
        nfacct.decode(datagram, fresh)
        got = dumper(Replay(datagram))
        assert got == fresh
        assert [(o.name.encode(), o.packets, o.bytes, o.rules + 1) for o in got] == objects
        layouts.append(isinstance(dumper._last[0].layout, Layout))
    assert layouts == [False, True, True, False, True, False]
    assert dumper.errors == 0
