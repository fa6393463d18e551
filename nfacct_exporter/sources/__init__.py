"""Sources: one module per kernel interface. Each knows its interface and nothing of outputs.

A source has ``read() -> Reading`` (called on the poller thread, which owns its sockets) and
``close()``.
"""

from typing import Protocol

from nfacct_exporter.snapshot import Reading


class Source(Protocol):
    name: str

    def read(self) -> Reading: ...

    def close(self) -> None: ...
