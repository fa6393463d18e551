"""The ``events:`` option of an NFLOG group: where its packets go as JSON lines, and how.

Shape (exactly one of ``file``, ``stdout``, ``socket``)::

    events:
      file: /var/log/nfacct-exporter/nflog.json  # or stdout: true, or socket: tcp://HOST:PORT
      format: ulogd                             # ulogd (default) | ecs          or unix:PATH
      dvc: "My awesome FW"                      # default: the host name
"""

import socket
from dataclasses import dataclass
from typing import Any

from nfacct_exporter.config.checks import MISSING, Invalid, Reader, boolean, choice, string
from nfacct_exporter.events.json_format import FORMATS
from nfacct_exporter.events.outputs import parse_socket


@dataclass(frozen=True)
class Events:
    """One group's packet events: the output (``target()``), the format and the device name."""

    file: str | None = None
    stdout: bool = False
    socket: str | None = None
    format: str = "ulogd"
    dvc: str = ""

    def target(self) -> tuple[str, str]:
        """What identifies the output: groups naming the same one share one writer."""
        if self.file is not None:
            return ("file", self.file)
        if self.socket is not None:
            return ("socket", self.socket)
        return ("stdout", "")


def _socket(v: Any) -> str:
    v = string(v)
    try:
        parse_socket(v)
    except ValueError as e:
        raise Invalid(str(e)) from None
    return v


_SPEC = {"file": string, "stdout": boolean, "socket": _socket, "format": choice(*FORMATS),
         "dvc": string}
_OUTPUTS = ("file", "stdout", "socket")


def parse_events(r: Reader, data: Any, key: str) -> Events | None:
    """The ``events`` mapping of one group → Events (None if absent or invalid)."""
    got = r.section(data, key, _SPEC)
    if not isinstance(data, dict):
        return None
    named = [k for k in _OUTPUTS if data.get(k) not in (None, False)]
    if len(named) != 1:
        r.error(key, MISSING, "needs exactly one of file: PATH, stdout: true, "
                "socket: tcp://HOST:PORT | unix:PATH" + (f" (got {', '.join(named)})"
                                                         if named else ""))
        return None
    if named[0] not in got:
        return None  # reported by section()
    got.setdefault("dvc", socket.gethostname())
    if got.get("stdout") is False:
        del got["stdout"]
    return Events(**got)
