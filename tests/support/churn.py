"""NFACCT objects created and deleted in churn over netlink (the ``nfacct`` tool runs ~2 ms an
object): each round creates a batch of new names and deletes the previous batch."""

import threading

from pyroute2.netlink import NLM_F_ACK, NLM_F_REQUEST
from pyroute2.netlink.nfnetlink import NFNL_SUBSYS_ACCT

from nfacct_exporter.netlink import core, nfacct
from nfacct_exporter.netlink.socket import NetfilterSocket

ACCT_DEL = (NFNL_SUBSYS_ACCT << 8) | 3  # NFNL_MSG_ACCT_DEL


def delete_request(name: str | bytes | None, seq: int) -> bytes:
    """Delete one object (None: every object no rule uses)."""
    msg = nfacct.nfacct_msg()
    msg["attrs"] = [] if name is None else [("NFACCT_NAME", name)]
    return core.encode(msg, ACCT_DEL, NLM_F_REQUEST | NLM_F_ACK, seq)


class Churn:
    """On a thread: every ``period`` s, ``batch`` new objects ``<prefix>.<round>.<i>`` are
    created in namespace ``netns`` and the previous round's deleted; with ``pool`` the round
    numbers in names wrap (``pool`` × ``batch`` distinct names: objects recreated under old
    names). ``stop()`` deletes the last round too and returns (created, deleted, errnos seen)."""

    def __init__(self, netns: str, batch: int = 1000, period: float = 1.0,
                 prefix: str = "churn", pool: int | None = None) -> None:
        self.netns, self.batch, self.period, self.prefix = netns, batch, period, prefix
        self.pool = pool
        self.created = self.deleted = 0
        self.errors: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="churn", daemon=True)

    def start(self) -> "Churn":
        self._thread.start()
        return self

    def _names(self, n: int) -> list[str]:
        n = n % self.pool if self.pool else n
        return [f"{self.prefix}.{n}.{i}" for i in range(self.batch)]

    def _run(self) -> None:
        sock = NetfilterSocket(self.netns)
        try:
            n = 0
            while True:
                self._do(sock, [nfacct.acct_new_request(x, sock.next_seq())
                                for x in self._names(n)], "created")
                if n:
                    self._delete(sock, self._names(n - 1))
                n += 1
                if self._stop.wait(self.period):
                    break
            self._delete(sock, self._names(n - 1))
        finally:
            sock.close()

    def _delete(self, sock: NetfilterSocket, names: list[str]) -> None:
        self._do(sock, [delete_request(x, sock.next_seq()) for x in names], "deleted")

    def _do(self, sock: NetfilterSocket, requests: list[bytes], what: str) -> None:
        codes = sock.transact(requests)
        setattr(self, what, getattr(self, what) + codes.count(0))
        self.errors += [c for c in codes if c]

    def stop(self) -> tuple[int, int, list[int]]:
        self._stop.set()
        self._thread.join()
        return self.created, self.deleted, self.errors
