"""``NetfilterSocket`` against the kernel: ``transact`` gives exactly one errno per request,
whatever else is queued on the socket, and neither a transaction nor a dump waits for ever
when the kernel sends nothing back (ETIMEDOUT)."""

import errno

import pytest
from pyroute2.netlink import NLM_F_CREATE, NLM_F_REQUEST

from nfacct_exporter.netlink import core, nfacct
from nfacct_exporter.netlink.socket import NetfilterSocket, NetlinkError


def unacked_new(name: str, seq: int) -> bytes:
    """Create an object without NLM_F_ACK: on success the kernel answers nothing at all."""
    msg = nfacct.nfacct_msg()
    msg["attrs"] = [("NFACCT_NAME", name)]
    return core.encode(msg, nfacct.ACCT_NEW, NLM_F_REQUEST | NLM_F_CREATE, seq)


def test_one_errno_per_request_despite_stale_acks(ns) -> None:  # noqa: ANN001
    def run() -> tuple[list[int], list[int], list[str]]:
        sock = NetfilterSocket()
        try:
            # an abandoned request leaves its ACK queued: it must not be taken for the next one's
            sock.send(nfacct.acct_new_request("stale", sock.next_seq()))
            first = nfacct.create(sock, ["a", "b", "stale"])
            again = nfacct.create(sock, [f"n{i}" for i in range(250)] + ["a"])
            return first, again, [o.name for o in nfacct.dump(sock)]
        finally:
            sock.close()
    first, again, names = ns.call(run)
    assert first[:2] == [0, 0] and first[2] in (errno.EEXIST, errno.EBUSY)
    assert again[:250] == [0] * 250 and len(again) == 251 and again[250] in (errno.EEXIST,
                                                                            errno.EBUSY)
    assert len(names) == 3 + 250


def test_transaction_without_answer_times_out(ns) -> None:  # noqa: ANN001
    def run() -> list[int]:
        sock = NetfilterSocket(timeout=0.3)
        try:
            return sock.transact([nfacct.acct_new_request("x", sock.next_seq()),
                                  unacked_new("y", sock.next_seq())])
        finally:
            sock.close()
    assert ns.call(run) == [0, errno.ETIMEDOUT]


def test_dump_without_answer_times_out(ns) -> None:  # noqa: ANN001
    def run() -> None:
        sock = NetfilterSocket(timeout=0.3)
        try:
            with pytest.raises(NetlinkError) as e:
                sock.dump_into(unacked_new("z", sock.next_seq()), lambda data, off: off)
            assert e.value.errno == errno.ETIMEDOUT and "did not answer" in str(e.value)
            with pytest.raises(NetlinkError):
                list(sock.dump(unacked_new("w", sock.next_seq())))
            assert [o.name for o in nfacct.dump(sock)] == ["z", "w"]  # still usable
        finally:
            sock.close()
    ns.call(run)
