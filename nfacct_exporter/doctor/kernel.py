"""Netlink probes of one namespace: what the kernel can do and holds, asked the way the daemon
asks it (a module built into the kernel has no ``/proc/modules`` entry, so only asking tells).

A missing nfnetlink subsystem answers EINVAL on this kernel (EOPNOTSUPP on others); EPERM means
no CAP_NET_ADMIN, or, for an NFLOG group, that another socket holds it.
"""

import errno

from nfacct_exporter.netlink import core, nfacct, nflog
from nfacct_exporter.netlink.socket import NetfilterSocket, NetlinkError

MISSING = (errno.EINVAL, errno.EOPNOTSUPP, errno.EPROTONOSUPPORT, errno.ENOENT)


def references(sock: NetfilterSocket) -> tuple[dict[str, int] | None, int]:
    """({NFACCT object: rules referencing it}, 0), or (None, errno of the refused dump)."""
    try:
        return {o.name: o.rules for o in nfacct.dump(sock)}, 0
    except NetlinkError as e:
        return None, e.errno


def _config(sock: NetfilterSocket, group: int, attrs: list) -> int:
    msg = nflog.nflog_config_msg()
    msg["attrs"] = attrs
    data = core.encode(msg, nflog.ULOG_CONFIG, core.NLM_F_REQUEST | core.NLM_F_ACK,
                       sock.next_seq(), group)
    return sock.transact([data])[0]


def nflog_answers(sock: NetfilterSocket, group: int) -> int:
    """errno of an empty NFLOG config message for a group nobody bound (0 never comes back):
    ENODEV means nfnetlink_log is there; nothing gets bound."""
    return _config(sock, group, [])


def nflog_bind_test(sock: NetfilterSocket, group: int) -> int:
    """Bind ``group`` on ``sock`` and return the errno (0: it was free; closing frees it)."""
    return _config(sock, group, [("NFULA_CFG_CMD", nflog.NFULNL_CFG_CMD_BIND)])
