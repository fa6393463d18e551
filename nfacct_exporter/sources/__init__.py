"""Sources: one module per kernel interface. Each knows its interface and nothing of outputs.

The pipeline opens the sources of the primary namespace (``open``: the kernel's refusal stops
the start-up); the poller thread, which owns their sockets, calls ``read`` every poll and
``close`` at the end.
"""

from typing import Protocol

from nfacct_exporter.snapshot import Reading


class Source(Protocol):
    name: str  # the reading's source name: "nfacct", "nflog", "nft"
    label: str | None  # the netns label value; None when one namespace is read

    def open(self) -> None: ...

    def read(self) -> Reading: ...

    def close(self) -> None: ...
