"""Over-quota announcements are counted under the very name the NFACCT dump gives the object, so
``nfacct_over_quota_events_total`` finds them, names that are not UTF-8 included."""

import pytest
from prometheus_client import generate_latest

from nfacct_exporter import instrumentation
from nfacct_exporter.netlink import core, nfacct
from nfacct_exporter.netlink.nfacct import NFACCT_F_OVERQUOTA, NFACCT_F_QUOTA_PKTS
from nfacct_exporter.poller import Poller
from nfacct_exporter.records import NfacctObject
from nfacct_exporter.sinks.prometheus.nfacct import NfacctRenderer
from nfacct_exporter.snapshot import Reading, Snapshot
from nfacct_exporter.sources.nfacct import NfacctSource


def announcement(raw_name: bytes) -> bytes:
    """What the kernel multicasts when ``raw_name`` passes its quota (an ACCT_NEW message)."""
    m = nfacct.nfacct_msg()
    placeholder = "N" * len(raw_name)
    m["attrs"] = [("NFACCT_NAME", placeholder), ("NFACCT_PKTS", 6), ("NFACCT_BYTES", 60),
                  ("NFACCT_USE", 1), ("NFACCT_FLAGS", NFACCT_F_QUOTA_PKTS | NFACCT_F_OVERQUOTA),
                  ("NFACCT_QUOTA", 5)]
    data = core.encode(m, nfacct.ACCT_NEW, 0, 0)
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
    dumped: list[NfacctObject] = []
    nfacct.decode(data, dumped)  # the dump decodes the same message layout
    (obj,) = dumped
    src = NfacctSource()
    src.events = Events([data, data])  # type: ignore[assignment]
    src._drain()
    assert src.over_quota_events == {obj.name: 2}
    reading = Reading("nfacct", True, 0.0, (obj,),
                      extra={"over_quota_events": src.over_quota_events})
    text = b"".join(NfacctRenderer(()).render([reading])).decode()
    line = next(x for x in text.splitlines() if x.startswith("nfacct_over_quota_events_total{"))
    assert line.endswith(" 2"), text


class Failing(Events):
    def recv(self) -> memoryview:
        raise OSError(105, "No buffer space available")


def test_a_failing_announcement_socket_is_logged_once_and_counted(monkeypatch, caplog) -> None:  # noqa: ANN001,E501
    """The reading stays good (announcements are lost, not counts); the failure is logged once
    and counted in the exposition; the socket is opened again at the next poll."""
    src = NfacctSource()
    src.dump = lambda sock: []  # no kernel: an empty dump
    made: list[Events] = []

    def subscribe() -> None:
        if src.events is None:
            src.events = Failing([])
            made.append(src.events)
    monkeypatch.setattr(src, "_subscribe", subscribe)
    monkeypatch.setattr(src, "_connect", lambda: None)
    src.sock = object()  # type: ignore[assignment]
    readings = [src.read() for _ in range(3)]
    assert all(r.ok for r in readings)
    assert [r.extra["over_quota_events_errors"] for r in readings] == [1, 2, 3]
    assert len(made) == 3  # reopened at each poll
    assert sum("over-quota announcements" in m for m in caplog.messages) == 1
    assert "# TYPE nfacct_exporter_quota_events_errors_total counter" in own(readings[-1])
    assert "\nnfacct_exporter_quota_events_errors_total 3.0\n" in own(readings[-1])
    assert "quota_events_errors" not in own(
        Reading("nfacct", True, 0.0, (), extra={"over_quota_events_errors": 0}))
    assert "quota_events_errors" not in b"".join(NfacctRenderer(()).render(readings[-1:])).decode()


def own(reading: Reading) -> str:
    """The exporter's own metrics for a poll holding ``reading``."""
    snap = Snapshot(1, 0.0, 0.0, {"nfacct": reading})
    return generate_latest(instrumentation.registry(Poller([], [], 1), None, lambda: snap)).decode()
