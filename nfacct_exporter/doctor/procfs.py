"""What ``/proc`` tells about one network namespace: NFLOG bindings, netfilter loggers, sockets
and the processes holding them. Read from ``/proc/thread-self`` so a thread that entered a
namespace sees that namespace."""

import contextlib
import os
from pathlib import Path

NET = Path("/proc/thread-self/net")
NETLINK_NETFILTER = 12
FAMILIES = {2: "ipv4", 10: "ipv6"}  # the families whose loggers conntrack uses


def nflog_bindings() -> dict[int, int]:
    """{NFLOG group: portid of the socket bound to it} (``nfnetlink_log``: group portid ...)."""
    out = {}
    with contextlib.suppress(OSError):
        for line in (NET / "netfilter/nfnetlink_log").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2:
                out[int(parts[0])] = int(parts[1])
    return out


def nf_loggers() -> dict[int, str]:
    """{protocol family: logger bound to it, or NONE} from ``nf_log``."""
    out = {}
    with contextlib.suppress(OSError):
        for line in (NET / "netfilter/nf_log").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2:
                out[int(parts[0])] = parts[1]
    return out


def sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", name.replace(".", "/")).read_text().strip()
    except OSError:
        return None


def registered_matches() -> set[str]:
    """xtables matches the kernel has (built in or loaded), for IPv4 and IPv6."""
    out: set[str] = set()
    for name in ("ip_tables_matches", "ip6_tables_matches"):
        with contextlib.suppress(OSError):
            out.update((NET / name).read_text().split())
    return out


def netlink_inode(portid: int) -> int | None:
    """Inode of the NETLINK_NETFILTER socket with this port id (``netlink``: sk Eth Pid ...)."""
    with contextlib.suppress(OSError):
        for line in (NET / "netlink").read_text().splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 10 and parts[1] == str(NETLINK_NETFILTER) and \
                    parts[2] == str(portid):
                return int(parts[9])
    return None


def tcp_listener_inodes(port: int) -> list[int]:
    """Inodes of the TCP sockets listening on ``port`` (state 0A in ``tcp``/``tcp6``)."""
    out = []
    for name in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (NET / name).read_text().splitlines()[1:]:
                parts = line.split()
                if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                    out.append(int(parts[9]))
    return out


def socket_owner(inode: int | None) -> tuple[int, str] | None:
    """(pid, command line) of a process holding the socket, scanning ``/proc/*/fd``."""
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                        return int(pid), raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return None


def is_exporter(owner: tuple[int, str] | None) -> bool:
    """Whether the process is an nfacct-exporter daemon (other than this doctor)."""
    if owner is None or owner[0] == os.getpid():
        return False
    return "nfacct-exporter" in owner[1] or "nfacct_exporter" in owner[1]


def describe(owner: tuple[int, str] | None) -> str:
    return f"PID {owner[0]} ({owner[1][:80]})" if owner else "another process"
