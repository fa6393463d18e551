"""The NFLOG hot path: bind a group, and tally logged packets straight from the datagram bytes.

Why by hand: pyroute2's message classes parse ~8–14k packets/s, a ``struct`` walk on a raw socket
~200k/s and more. ``messages.nflog_config_msg`` still builds the CONFIG message, and the tests
check ``tally`` against ``messages.nflog_packet_msg`` on the same (kernel-made) bytes.

Only what counting needs is read from each packet: the prefix, the per-group sequence number
(NFULNL_CFG_F_SEQ, to count what the kernel could not deliver) and the IP length field of the
first bytes of the payload (``COPY_RANGE`` bytes are copied: IPv4 total length is at bytes 2–3,
IPv6 payload length at 4–5, plus 40 for the fixed header).
"""

import errno
import os
import struct
from collections.abc import Callable

from pyroute2.netlink import NLM_F_ACK, NLM_F_REQUEST

from nfacct_exporter.netlink import messages
from nfacct_exporter.netlink.socket import NetfilterSocket

COPY_RANGE = 8  # bytes of each packet the kernel copies to us: enough for both length fields
NLBUFSIZ_MAX = 131072  # the kernel's cap on one batch datagram
EMPTY = b"\0"  # prefix key of a packet logged without prefix (same as an empty prefix)

NFULA_PACKET_HDR = 1
NFULA_PAYLOAD = 9
NFULA_PREFIX = 10
NFULA_SEQ = 12

_HDR = struct.Struct("=IH")
_ATTR = struct.Struct("=HH")
_BE32 = struct.Struct(">I")


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
                   nlbufsiz: int = NLBUFSIZ_MAX) -> bytes:
    """BIND ``group`` and configure it in one message: packet copy of ``COPY_RANGE`` bytes,
    batches of up to ``qthreshold`` packets / ``nlbufsiz`` bytes flushed after ``qtimeout``
    hundredths of a second, and per-group sequence numbers."""
    msg = messages.nflog_config_msg()
    msg["attrs"] = [
        ("NFULA_CFG_CMD", messages.NFULNL_CFG_CMD_BIND),
        ("NFULA_CFG_MODE", {"copy_range": COPY_RANGE, "copy_mode": messages.NFULNL_COPY_PACKET}),
        ("NFULA_CFG_NLBUFSIZ", nlbufsiz),
        ("NFULA_CFG_QTHRESH", qthreshold),
        ("NFULA_CFG_TIMEOUT", qtimeout),
        ("NFULA_CFG_FLAGS", messages.NFULNL_CFG_F_SEQ),
    ]
    flags = NLM_F_REQUEST | NLM_F_ACK
    return messages.encode(msg, messages.ULOG_CONFIG, flags, seq, res_id=group)


def bind(sock: NetfilterSocket, group: int, qthreshold: int, qtimeout: int,
         where: str = "") -> None:
    """Bind and configure one group on ``sock``; raise BindError (one clear line) if refused."""
    code = sock.transact([config_request(group, sock.next_seq(), qthreshold, qtimeout)])[0]
    if code:
        raise BindError(code, group, where)


def tally(data: bytes, counts: dict[bytes, list[int]], admit: Callable[[bytes], list[int]],
          expect: int) -> tuple[int, int, int]:
    """Add every packet of one NFLOG datagram to ``counts`` → (next seq, lost, packets).

    ``counts`` maps the raw NFULA_PREFIX payload (NUL included; ``EMPTY`` when absent) to a
    ``[packets, bytes]`` list; an unknown prefix asks ``admit`` for its list (the caller applies
    its cardinality cap there). ``expect`` is the next sequence number the group should send;
    a jump counts the skipped packets as lost (the kernel dropped them: socket buffer full).
    Bytes are the IP packet length (0 when the payload is too short to hold it, or not IP).
    """
    unpack_hdr = _HDR.unpack_from
    unpack_attr = _ATTR.unpack_from
    unpack32 = _BE32.unpack_from
    packet_type = messages.ULOG_PACKET
    hdr_t, prefix_t, seq_t, payload_t = NFULA_PACKET_HDR, NFULA_PREFIX, NFULA_SEQ, NFULA_PAYLOAD
    off = lost = packets = 0
    total = len(data)
    while off + 20 <= total:
        length, mtype = unpack_hdr(data, off)
        end = off + length
        if length < 20 or end > total:
            break
        if mtype == packet_type:
            prefix = EMPTY
            seq = -1
            size = 0
            a = off + 20
            # The kernel writes PACKET_HDR (8 bytes) first and PREFIX next: read those two
            # without the loop (-13% per packet); the loop still takes any attribute anywhere.
            if a + 12 <= end and data[a + 2] == hdr_t and data[a] == 8:
                a += 8
                alen = data[a] | data[a + 1] << 8
                if data[a + 2] == prefix_t and data[a + 3] == 0 and 4 <= alen <= end - a:
                    prefix = data[a + 4 : a + alen]
                    a += (alen + 3) & ~3
            while a + 4 <= end:
                alen, atype = unpack_attr(data, a)
                if alen < 4:
                    break
                if atype == seq_t:  # (no 0x3FFF mask: only the nested NFULA_CT has flags)
                    seq = unpack32(data, a + 4)[0]
                elif atype == payload_t:
                    if alen >= 8:
                        version = data[a + 4] >> 4
                        if version == 4:
                            size = data[a + 6] << 8 | data[a + 7]
                        elif version == 6 and alen >= 10:
                            size = (data[a + 8] << 8 | data[a + 9]) + 40
                    break  # the kernel puts the payload last
                elif atype == prefix_t:
                    prefix = data[a + 4 : a + alen]
                a += (alen + 3) & ~3
            c = counts.get(prefix)
            if c is None:
                c = admit(prefix)
            c[0] += 1
            c[1] += size
            packets += 1
            if seq >= 0:
                if seq != expect:
                    lost += (seq - expect) & 0xFFFFFFFF
                expect = (seq + 1) & 0xFFFFFFFF
        off += (length + 3) & ~3
    return expect, lost, packets


def prefix_text(raw: bytes) -> str:
    """The raw prefix key → text (up to the NUL; bytes that are not UTF-8 kept as surrogates)."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
