"""Run a command under restrictions the tests need but cannot get from systemd (PID 1 is not
systemd here), kept across ``execv``. Usage: ``python3 sandbox.py OPTIONS -- PROGRAM ARGS...``

``--no-nfnetlink``: socket(AF_NETLINK, *, NETLINK_NETFILTER) fails with EPROTONOSUPPORT, what a
kernel without nfnetlink answers. This kernel has no module support (all built in), so nothing can
be unloaded; the seccomp filter gives the daemon the same errno.

``--unit-like``: what the shipped unit's ``MemoryDenyWriteExecute=yes`` and
``RestrictAddressFamilies=AF_NETLINK AF_INET AF_INET6 AF_UNIX`` enforce: the kernel's own
memory-deny-write-execute (PR_SET_MDWE, Linux ≥ 6.3) and socket() refused (EAFNOSUPPORT) for
any other family. Both seccomp filters are x86_64 only.
"""

import ctypes
import errno
import os
import struct
import sys

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
AUDIT_ARCH_X86_64, NR_SOCKET = 0xC000003E, 41
ALLOW, ERRNO = 0x7FFF0000, 0x00050000
LD, JEQ, RET = 0x20, 0x15, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_RET|K
AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, NETLINK_NETFILTER = 1, 2, 10, 16, 12
# offsets in struct seccomp_data: nr 0, arch 4, args[i] 16 + 8 i (low half, little endian)
PREAMBLE = [(LD, 0, 0, 4), (JEQ, 1, 0, AUDIT_ARCH_X86_64), (RET, 0, 0, ALLOW),
            (LD, 0, 0, 0), (JEQ, 1, 0, NR_SOCKET), (RET, 0, 0, ALLOW), (LD, 0, 0, 16)]


def no_nfnetlink() -> list[tuple[int, int, int, int]]:
    return [*PREAMBLE, (JEQ, 1, 0, AF_NETLINK), (RET, 0, 0, ALLOW),
            (LD, 0, 0, 32), (JEQ, 0, 1, NETLINK_NETFILTER),
            (RET, 0, 0, ERRNO | errno.EPROTONOSUPPORT), (RET, 0, 0, ALLOW)]


def families_only() -> list[tuple[int, int, int, int]]:
    allowed = (AF_UNIX, AF_INET, AF_INET6, AF_NETLINK)
    checks = [(JEQ, len(allowed) - i, 0, fam) for i, fam in enumerate(allowed)]
    return [*PREAMBLE, *checks, (RET, 0, 0, ERRNO | errno.EAFNOSUPPORT), (RET, 0, 0, ALLOW)]


def install(libc: ctypes.CDLL, insns: list[tuple[int, int, int, int]]) -> None:
    code = b"".join(struct.pack("=HBBI", *i) for i in insns)
    buf = ctypes.create_string_buffer(code, len(code))

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = Fprog(len(insns), ctypes.addressof(buf))
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0):
        raise OSError(ctypes.get_errno(), "seccomp")


def main() -> None:
    sep = sys.argv.index("--")
    options, argv = sys.argv[1:sep], sys.argv[sep + 1:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
        raise OSError(ctypes.get_errno(), "no_new_privs")
    if "--no-nfnetlink" in options:
        install(libc, no_nfnetlink())
    if "--unit-like" in options:
        install(libc, families_only())
        if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0):
            raise OSError(ctypes.get_errno(), "PR_SET_MDWE")
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
