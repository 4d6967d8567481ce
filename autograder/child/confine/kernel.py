"""The kernel through ctypes: syscall numbers (x86_64 and aarch64), prctl, unshare, mount and their flags."""

from __future__ import annotations

import ctypes
import errno
import os
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

ARCH = os.uname().machine
# Syscall numbers; aarch64 uses the generic table.
_NR = {
    "x86_64": dict(
        socket=41,
        clone=56,
        ptrace=101,
        capset=126,
        pivot_root=155,
        mount=165,
        umount2=166,
        kexec_load=246,
        add_key=248,
        request_key=249,
        keyctl=250,
        unshare=272,
        perf_event_open=298,
        setns=308,
        process_vm_readv=310,
        process_vm_writev=311,
        kexec_file_load=320,
        bpf=321,
        userfaultfd=323,
        open_by_handle_at=304,
        init_module=175,
        finit_module=313,
        delete_module=176,
    ),
    "aarch64": dict(
        socket=198,
        clone=220,
        ptrace=117,
        capset=91,
        pivot_root=41,
        mount=40,
        umount2=39,
        kexec_load=104,
        add_key=217,
        request_key=218,
        keyctl=219,
        unshare=97,
        perf_event_open=241,
        setns=268,
        process_vm_readv=270,
        process_vm_writev=271,
        kexec_file_load=294,
        bpf=280,
        userfaultfd=282,
        open_by_handle_at=265,
        init_module=105,
        finit_module=273,
        delete_module=106,
    ),
}
# The same number on both: io_uring, the new mount API, clone3, mount_setattr and Landlock.
_COMMON = dict(
    io_uring_setup=425,
    io_uring_enter=426,
    io_uring_register=427,
    open_tree=428,
    move_mount=429,
    fsopen=430,
    fsconfig=431,
    fsmount=432,
    fspick=433,
    clone3=435,
    mount_setattr=442,
    landlock_create_ruleset=444,
    landlock_add_rule=445,
    landlock_restrict_self=446,
)
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}


def _nr(name: str) -> int | None:
    return _NR.get(ARCH, {}).get(name, _COMMON.get(name) if ARCH in _NR else None)


def _fail(what: str) -> OSError:
    e = ctypes.get_errno()
    return OSError(e, f"{what}: {os.strerror(e)}")


def _syscall(name: str, *args) -> int:
    nr = _nr(name)
    if nr is None:
        raise OSError(errno.ENOSYS, f"{name}: not known on {ARCH}")
    ret = _libc.syscall(ctypes.c_long(nr), *args)
    if ret < 0:
        raise _fail(name)
    return ret


def _prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0, what: str = "prctl") -> int:
    ret = _libc.prctl(option, a2, a3, a4, a5)
    if ret < 0:
        raise _fail(what)
    return ret


PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_SECUREBITS = 1, 4, 24, 28
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 22, 47, 4

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 1, 2, 4
AT_RECURSIVE = 0x8000


def _unshare(flags: int, what: str) -> None:
    if _libc.unshare(ctypes.c_int(flags)) < 0:
        raise _fail(f"unshare({what})")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(s: str | None) -> bytes | None:
        return None if s is None else s.encode()

    if _libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) < 0:
        raise _fail(f"mount {source or ''} on {target}")


def _read_only(target: str, recursive: bool = True) -> None:
    """Make a mount (and with `recursive`, the mounts under it) read-only, nosuid and nodev."""
    attr = struct.pack("QQQQ", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, 0, 0)
    buf = ctypes.create_string_buffer(attr, len(attr))
    flags = AT_RECURSIVE if recursive else 0
    if (
        _libc.syscall(
            ctypes.c_long(_nr("mount_setattr")),
            ctypes.c_int(-100),
            target.encode(),
            ctypes.c_uint(flags),
            buf,
            ctypes.c_size_t(len(attr)),
        )
        == 0
    ):
        return
    if ctypes.get_errno() != errno.ENOSYS:
        raise _fail(f"mount_setattr {target}")
    # Before Linux 5.12: a remount of the top mount only, keeping the flags the kernel locked on it.
    locked = os.statvfs(target).f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC | 1024 | 2048 | 4096)
    _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | locked)
