"""Enter a network namespace on the calling thread only, without ever creating one.

Netlink sockets belong to the namespace they were opened in, so a source opens its socket inside
the target namespace and returns: the socket keeps reading that namespace. ``setns`` acts on the
calling thread only (Python 3.11 has no ``os.setns``), so other threads are unaffected. Unlike
pyroute2's ``netns=`` (O_CREAT by default), a missing namespace is an error here.
"""

import contextlib
import ctypes
import os
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def netns_path(netns: str) -> str:
    """``blue`` → ``/run/netns/blue`` (as ``ip netns`` names them); paths are kept as given."""
    return netns if "/" in netns else os.path.join("/run/netns", netns)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def entered(netns: str | None) -> Iterator[None]:
    """Run the body in ``netns`` (None = stay where we are), then return to the original one."""
    if netns is None:
        yield
        return
    target = os.open(netns_path(netns), os.O_RDONLY | os.O_CLOEXEC)
    try:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(home)
        finally:
            os.close(home)
    finally:
        os.close(target)
