"""NFLOG (``linux/netfilter/nfnetlink_log.h``): constants, the declared messages and binding a
group; ``nflog_tally.py`` tallies the logged packets straight from the datagram bytes.

Why by hand: pyroute2's message classes parse ~8–14k packets/s; an attribute walk with ``struct``
~650k/s on one core here, and the tally's compiled layouts ~1.2–1.8M/s. The CONFIG request is
built with ``struct`` and checked in the tests against ``nflog_config_msg``, and the tally against
``nflog_packet_msg`` on the same (kernel-made and synthetic) bytes; both pyroute2 declarations
(``nflog_declared.py``) are made on first use, so the daemon never imports pyroute2.
"""

import errno
import os
import struct
from typing import Any

from nfacct_exporter.netlink import core
from nfacct_exporter.netlink.socket import NetfilterSocket

# enum nfulnl_msg_types
ULOG_PACKET = (core.NFNL_SUBSYS_ULOG << 8) | 0  # NFULNL_MSG_PACKET
ULOG_CONFIG = (core.NFNL_SUBSYS_ULOG << 8) | 1  # NFULNL_MSG_CONFIG
NFULNL_CFG_CMD_BIND = 1
NFULNL_COPY_PACKET = 2
NFULNL_CFG_F_SEQ = 0x0001
# enum nfulnl_attr_type
NFULA_PACKET_HDR, NFULA_PAYLOAD, NFULA_PREFIX, NFULA_SEQ = 1, 9, 10, 12
# enum nfulnl_attr_config
NFULA_CFG_CMD, NFULA_CFG_MODE, NFULA_CFG_NLBUFSIZ = 1, 2, 3
NFULA_CFG_TIMEOUT, NFULA_CFG_QTHRESH, NFULA_CFG_FLAGS = 4, 5, 6


def __getattr__(name: str) -> Any:
    """The pyroute2 declarations (``nflog_config_msg``, ``nflog_packet_msg``), made (and
    pyroute2 imported) on first use."""
    if name in ("nflog_config_msg", "nflog_packet_msg"):
        from nfacct_exporter.netlink import nflog_declared

        globals().update(nflog_declared.declare())
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


COPY_RANGE = 8  # bytes of each packet the kernel copies to us: enough for both length fields
# Groups with packet events: enough for the IPv4 header with options (60) and a TCP header with
# options (60), or the IPv6 header (40) and TCP with options, as ulogd's BASE decodes them.
HEADERS_COPY_RANGE = 128
# Kernel batch size: alloc_skb() rounds up to a power of two after adding its ~320-byte tail, so
# 64 KiB - 1 KiB is one order-4 GFP_ATOMIC allocation per batch (~470 of our packets), while the
# kernel's maximum (128 KiB) would become an order-6 one (256 KiB) for no gain: measured, the
# receive buffer holds the same number of packets either way.
NLBUFSIZ = 64 * 1024 - 1024
EMPTY = b"\0"  # prefix key of a packet logged without prefix (same as an empty prefix)


class BindError(OSError):
    """The kernel refused to give us an NFLOG group; ``str()`` is one line naming it and why."""

    def __init__(self, code: int, group: int, where: str = "") -> None:
        super().__init__(code, _why(code, group, where))
        self.group = group

    def __str__(self) -> str:
        return str(self.strerror)


def _why(code: int, group: int, where: str) -> str:
    head = f"cannot bind NFLOG group {group}{where}"
    if code in (errno.EPERM, errno.EBUSY, errno.EEXIST):
        if code == errno.EPERM and not has_net_admin():
            return f"{head}: permission denied: CAP_NET_ADMIN is required"
        return (f"{head}: it is already bound by another netlink socket (ulogd, another "
                f"exporter?) ({os.strerror(code)}); stop that listener or use another group")
    if code in (errno.EPROTONOSUPPORT, errno.EOPNOTSUPP, errno.ENOENT):
        return (f"{head}: the kernel does not answer NFLOG requests ({os.strerror(code)}): "
                "load nfnetlink_log (modprobe nfnetlink_log)")
    return f"{head}: {os.strerror(code)}"


def has_net_admin() -> bool:
    """Whether this process holds CAP_NET_ADMIN (bit 12 of CapEff)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> 12 & 1)
    except OSError:
        pass
    return True


def config_request(group: int, seq: int, qthreshold: int, qtimeout: int,
                   nlbufsiz: int = NLBUFSIZ, copy_range: int = COPY_RANGE) -> bytes:
    """BIND ``group`` and configure it in one message: packet copy of ``copy_range`` bytes,
    batches of up to ``qthreshold`` packets / ``nlbufsiz`` bytes flushed after ``qtimeout``
    hundredths of a second, and per-group sequence numbers."""
    attrs = b"".join((
        core.attr(NFULA_CFG_CMD, bytes([NFULNL_CFG_CMD_BIND])),
        core.attr(NFULA_CFG_MODE, struct.pack(">IBx", copy_range, NFULNL_COPY_PACKET)),
        core.attr(NFULA_CFG_NLBUFSIZ, core.BE32.pack(nlbufsiz)),
        core.attr(NFULA_CFG_QTHRESH, core.BE32.pack(qthreshold)),
        core.attr(NFULA_CFG_TIMEOUT, core.BE32.pack(qtimeout)),
        core.attr(NFULA_CFG_FLAGS, struct.pack(">H", NFULNL_CFG_F_SEQ)),
    ))
    flags = core.NLM_F_REQUEST | core.NLM_F_ACK
    return core.request(ULOG_CONFIG, flags, seq, attrs, res_id=group)


def bind(sock: NetfilterSocket, group: int, qthreshold: int, qtimeout: int,
         where: str = "", copy_range: int = COPY_RANGE) -> None:
    """Bind and configure one group on ``sock``; raise BindError (one clear line) if refused."""
    request = config_request(group, sock.next_seq(), qthreshold, qtimeout, copy_range=copy_range)
    code = sock.transact([request])[0]
    if code:
        raise BindError(code, group, where)
