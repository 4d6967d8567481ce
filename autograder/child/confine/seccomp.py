"""The seccomp filter: no sockets but AF_UNIX, no ptrace, io_uring, bpf, keys, kexec, modules, mounts or
new namespaces."""

from __future__ import annotations

import ctypes
import errno
import struct

from . import kernel  # kernel.ARCH, read when called: a test builds the filter for each architecture
from .kernel import (
    _AUDIT_ARCH,
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    PR_SET_SECCOMP,
    _nr,
    _prctl,
)

_ALLOW, _ERRNO, _ENOSYS = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
AF_UNIX = 1
DENIED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "kexec_load",
    "kexec_file_load",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "mount_setattr",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "open_by_handle_at",
    "init_module",
    "finit_module",
    "delete_module",
)
_NS_FLAGS = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET


def seccomp_program() -> list[tuple[int, int, int, int]]:
    """The filter as classic BPF (code, jt, jf, k) for this machine's architecture.

    A foreign calling convention (i386 or x32 on x86_64) gets EPERM for everything. socket() succeeds
    only for AF_UNIX; clone() fails with EPERM when asked for a new namespace, and clone3 (whose flags
    a filter cannot read) with ENOSYS, so that the C library falls back to clone().
    """
    prog: list = []  # entries: (code, jt, jf, k) with jt/jf as label names or 0

    def jump(code, k, jt=0, jf=0):
        prog.append([code, jt, jf, k])

    jump(_LD_W_ABS, 4)  # seccomp_data.arch
    jump(_JEQ, _AUDIT_ARCH[kernel.ARCH], 0, "deny")
    jump(_LD_W_ABS, 0)  # seccomp_data.nr
    if kernel.ARCH == "x86_64":
        jump(_JGE, 0x40000000, "deny", 0)  # the x32 ABI
    for name in DENIED:
        jump(_JEQ, _nr(name), "deny", 0)
    jump(_JEQ, _nr("socket"), "socket", 0)
    jump(_JEQ, _nr("clone"), "clone", 0)
    jump(_JEQ, _nr("clone3"), "enosys", 0)
    jump(_RET, _ALLOW)
    labels = {"socket": len(prog)}
    jump(_LD_W_ABS, 16)  # args[0], low 32 bits: the address family
    jump(_JEQ, AF_UNIX, 0, "deny")
    jump(_RET, _ALLOW)
    labels["clone"] = len(prog)
    jump(_LD_W_ABS, 16)  # args[0]: the clone flags
    jump(_JSET, _NS_FLAGS, "deny", 0)
    jump(_RET, _ALLOW)
    labels["enosys"] = len(prog)
    jump(_RET, _ENOSYS)
    labels["deny"] = len(prog)
    jump(_RET, _ERRNO)
    out = []
    for i, (code, jt, jf, k) in enumerate(prog):
        jt = labels[jt] - i - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - i - 1 if isinstance(jf, str) else jf
        assert 0 <= jt < 256 and 0 <= jf < 256
        out.append((code, jt, jf, k))
    return out


def apply_seccomp() -> str:
    if kernel.ARCH not in _AUDIT_ARCH:
        raise OSError(errno.ENOSYS, f"no seccomp filter written for {kernel.ARCH}")
    prog = seccomp_program()
    raw = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    filt = ctypes.create_string_buffer(raw, len(raw))
    fprog = struct.pack("HxxxxxxP", len(prog), ctypes.addressof(filt))
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    _prctl(PR_SET_SECCOMP, 2, ctypes.addressof(fbuf), what="seccomp")  # SECCOMP_MODE_FILTER
    return (
        f"{kernel.ARCH}: socket() only for AF_UNIX; ptrace, process_vm_*, bpf, perf_event_open, userfaultfd, keys, "
        "kexec, io_uring, modules, mounts and new namespaces fail with EPERM"
    )
