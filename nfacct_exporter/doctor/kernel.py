"""Netlink probes of one namespace: what the kernel can do and holds, asked the way the daemon
asks it (a module built into the kernel has no ``/proc/modules`` entry, so only asking tells).

A missing nfnetlink subsystem answers EINVAL on this kernel (EOPNOTSUPP on others); EPERM means
no CAP_NET_ADMIN, or, for an NFLOG group, that another socket holds it.
"""

import errno
import struct

from nfacct_exporter.netlink import messages
from nfacct_exporter.netlink.socket import NetfilterSocket, NetlinkError

MISSING = (errno.EINVAL, errno.EOPNOTSUPP, errno.EPROTONOSUPPORT, errno.ENOENT)
_HDR = struct.Struct("=IH")


def nfacct_references(sock: NetfilterSocket) -> dict[str, int]:
    """{NFACCT object: rules referencing it}; NFACCT_USE counts the object's own reference too
    (measured here: 1 with no rule, 2 with one, 3 with two)."""
    out = {}
    for data in sock.dump(messages.acct_dump_request(sock.next_seq())):
        off = 0
        while off + 16 <= len(data):
            length, mtype = _HDR.unpack_from(data, off)
            if length < 16:
                break
            if mtype == messages.ACCT_NEW:
                msg = messages.nfacct_msg(bytes(data[off:off + length]))
                msg.decode()
                name = msg.get_attr("NFACCT_NAME")
                if isinstance(name, bytes):
                    name = name.decode("utf-8", "surrogateescape")
                out[name] = max(0, (msg.get_attr("NFACCT_USE") or 1) - 1)
            off += (length + 3) & ~3
    return out


def nflog_answers(sock: NetfilterSocket, group: int) -> int:
    """errno of an empty NFLOG config message for a group nobody bound (0 never comes back):
    ENODEV means nfnetlink_log is there; nothing gets bound."""
    msg = messages.nflog_config_msg()
    msg["attrs"] = []
    msg["res_id"] = group
    data = messages.encode(msg, messages.ULOG_CONFIG, 0x5, sock.next_seq(), group)
    return sock.transact([data])[0]


def nflog_bind_test(sock: NetfilterSocket, group: int) -> int:
    """Bind ``group`` on ``sock`` and return the errno (0: it was free; closing frees it)."""
    msg = messages.nflog_config_msg()
    msg["attrs"] = [("NFULA_CFG_CMD", messages.NFULNL_CFG_CMD_BIND)]
    data = messages.encode(msg, messages.ULOG_CONFIG, 0x5, sock.next_seq(), group)
    return sock.transact([data])[0]


def references(sock: NetfilterSocket) -> tuple[dict[str, int] | None, int]:
    """(``nfacct_references``, 0) or (None, errno of the refused dump)."""
    try:
        return nfacct_references(sock), 0
    except NetlinkError as e:
        return None, e.errno
