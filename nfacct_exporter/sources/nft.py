"""nftables named counters source: one GETOBJ dump (counters only) per poll."""

from nfacct_exporter.netlink import nft
from nfacct_exporter.sources.polled import PolledSource


class NftSource(PolledSource):
    def __init__(self, netns: str | None = None, label: str | None = None) -> None:
        super().__init__("nft", nft.Dumper(), netns, label)
