"""Why the kernel refused us, as one line an operator can act on.

Shared by the daemon (start-up and reload) and ``counters create``: the same refusal (missing
capability, missing module, missing namespace) reads the same wherever it happens.
"""

import errno

from nfacct_exporter.netlink.nflog import BindError


def netlink_problem(e: OSError, netns: str | None) -> str:
    """One line saying why the kernel refused us, and what to do."""
    if isinstance(e, BindError):  # already names the NFLOG group, the namespace and why
        return str(e)
    where = f" in network namespace {netns!r}" if netns else ""
    if netns and e.errno == errno.EPERM and "setns" in str(e):
        return (f"cannot enter network namespace {netns!r}: setns needs CAP_SYS_ADMIN (the "
                "shipped systemd unit grants only CAP_NET_ADMIN: use NetworkNamespacePath=)")
    if e.errno in (errno.EPERM, errno.EACCES):
        return (f"permission denied reading NFACCT over netlink{where}: CAP_NET_ADMIN is "
                "required (run as root or with AmbientCapabilities=CAP_NET_ADMIN)")
    if e.errno in (errno.EPROTONOSUPPORT, errno.EOPNOTSUPP, errno.ENOENT) and not netns:
        return (f"the kernel does not answer NFACCT requests ({e.strerror}): load "
                "nfnetlink_acct (modprobe nfnetlink_acct)")
    if e.errno == errno.EINVAL:  # nfnetlink answers EINVAL for a subsystem it does not have
        return (f"the kernel rejected the NFACCT request{where} ({e.strerror}): is "
                "nfnetlink_acct loaded? (modprobe nfnetlink_acct)")
    if netns and e.errno == errno.ENOENT:
        return f"network namespace {netns!r} does not exist"
    return f"cannot read NFACCT over netlink{where}: {e.strerror or e}"
