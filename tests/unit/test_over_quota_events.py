"""Over-quota announcements are counted under the very name the NFACCT dump gives the object, so
``nfacct_over_quota_events_total`` finds them, names that are not UTF-8 included."""

import pytest

from nfacct_exporter.netlink import messages, nfacct
from nfacct_exporter.netlink.messages import NFACCT_F_OVERQUOTA, NFACCT_F_QUOTA_PKTS
from nfacct_exporter.sinks.prometheus import NfacctRenderer
from nfacct_exporter.snapshot import Reading
from nfacct_exporter.sources.nfacct import NfacctSource


def announcement(raw_name: bytes) -> bytes:
    """What the kernel multicasts when ``raw_name`` passes its quota (an ACCT_NEW message)."""
    m = messages.nfacct_msg()
    placeholder = "N" * len(raw_name)
    m["attrs"] = [("NFACCT_NAME", placeholder), ("NFACCT_PKTS", 6), ("NFACCT_BYTES", 60),
                  ("NFACCT_USE", 1), ("NFACCT_FLAGS", NFACCT_F_QUOTA_PKTS | NFACCT_F_OVERQUOTA),
                  ("NFACCT_QUOTA", 5)]
    data = messages.encode(m, messages.ACCT_NEW, 0, 0)
    return data.replace(placeholder.encode(), raw_name)


class Events:
    def __init__(self, datagrams: list[bytes]) -> None:
        self.datagrams = datagrams

    def recv(self) -> memoryview:
        if not self.datagrams:
            raise BlockingIOError
        return memoryview(self.datagrams.pop(0))

    def close(self) -> None:
        pass


@pytest.mark.parametrize("raw", [b"month", "é.ü".encode(), b"q\xff\xfe"])
def test_events_are_counted_under_the_dumped_name(raw: bytes) -> None:
    data = announcement(raw)
    dumped: list[nfacct.NfacctObject] = []
    nfacct.decode(data, dumped)  # the dump decodes the same message layout
    (obj,) = dumped
    src = NfacctSource()
    src.events = Events([data, data])  # type: ignore[assignment]
    src._drain()
    assert src.over_quota_events == {obj.name: 2}
    reading = Reading("nfacct", True, 0.0, (obj,),
                      extra={"over_quota_events": src.over_quota_events})
    text = NfacctRenderer(()).render([reading]).decode()
    line = next(x for x in text.splitlines() if x.startswith("nfacct_over_quota_events_total{"))
    assert line.endswith(" 2"), text
