"""The poll loop outlives a source that raises something other than OSError: that source's
reading fails (and is counted), the others are read, and polling goes on."""


from nfacct_exporter.poller import Poller
from nfacct_exporter.snapshot import Reading, Snapshot
from tests.support.waiting import until


class Good:
    name = "nfacct"

    def read(self) -> Reading:
        return Reading("nfacct", True, 0.0, (), netns="self")

    def close(self) -> None:
        pass


class Broken:
    name = "nflog"
    label = "blue"

    def read(self) -> Reading:
        raise RuntimeError("can't start new thread")

    def close(self) -> None:
        pass


def test_a_source_that_raises_fails_its_reading_and_polling_goes_on() -> None:
    seen: list[Snapshot] = []
    p = Poller([Broken(), Good()], [seen.append], 0.01)
    snap = p.poll_once()
    assert snap.readings["nfacct@self"].ok
    bad = snap.readings["nflog@blue"]
    assert not bad.ok and "can't start new thread" in bad.error
    assert p.errors[("nflog", "blue")] == 1
    p.start()
    try:
        until(lambda: len(seen) >= 5, 5, "the poll loop to go on", 0.01)
    finally:
        p.stop()
