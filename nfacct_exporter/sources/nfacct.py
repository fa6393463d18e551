"""NFACCT source: one plain GET dump of every accounting object per poll (never GET_CTRZERO:
other readers share the counters, and reading must not clear the over-quota bit)."""

from nfacct_exporter.netlink import nfacct
from nfacct_exporter.sources.polled import PolledSource


class NfacctSource(PolledSource):
    def __init__(self, netns: str | None = None, label: str | None = None) -> None:
        super().__init__("nfacct", nfacct.dump, netns, label)
