"""Confine a grader worker: the sandbox around student code, with neither root nor Docker.

Standalone on purpose (stdlib and ctypes only): the child loads this file by path, like ``wire.py``.

A worker is forked from the warm zygote and calls `enter` before it loads any student code. In order:

1. While still privileged, it takes detached copies (``open_tree``) of the mounts the sandbox will
   show: the Python runtime and its ``sys.path``, ``/usr``, ``/etc``, the device nodes ``null``,
   ``zero``, ``random``, ``urandom`` (and CUDA's, where present) and the worker's private copy of the
   submission. (A bind mount cannot take its source from another mount
   namespace, and once the worker is nobody, ``/root``, where pyenv keeps Python, is closed to it.) The
   grader's own package, the reference answers and the project checkout are never among them; where
   one sits inside a shown folder, an empty read-only tmpfs covers it.
2. Started as root, it becomes ``nobody``: the kernel never counts root's processes against
   ``RLIMIT_NPROC``, so only an unprivileged worker has a bounded fork bomb.
3. It enters new user, mount, network, PID, IPC and UTS namespaces, then forks. The outer process (the
   one the parent knows and kills) only waits. The inner one is PID 1 of the new PID namespace and dies
   with the outer one, and with it everything it started, ``setsid`` daemons included.
4. The inner one builds a new root on a tmpfs: the copies attached read-only where they were, the
   merged-usr links (``/bin -> usr/bin``), a private ``/proc``, a throwaway ``/work`` (the cwd and
   ``$HOME``) and ``/tmp``, and the private copy at ``/submission/<name>``; then ``pivot_root`` drops
   the host's tree.
5. It gives up every capability for good (``no_new_privs``, empty bounding set, locked securebits),
   sets the rlimits, then applies Landlock (writes only in the throwaway folders, no TCP, signals and
   abstract sockets scoped) and a seccomp filter (no sockets but ``AF_UNIX``, no ptrace, no io_uring,
   no new namespaces or mounts, no bpf, keys or kexec).

Where user namespaces are missing the worker gets the fallback: Landlock limited to the same runtime
paths and its own folder, seccomp and the rlimits, as ``nobody`` when root (unless nobody could not
read the runtime, as with pyenv in ``/root``: then as uid 0 without any capability). `probe` tries
every layer in a throwaway child and says which are active; ``attnlab doctor`` prints that.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import json
import os
import resource
import select
import signal
import socket
import stat
import struct
import sys
from collections.abc import Callable

# Limits every confined worker gets. Its memory comes from course.yml (limits.memory_mb).
FILE_MB = 16  # RLIMIT_FSIZE: the largest file the student's code may write
NPROC = 64  # RLIMIT_NPROC: processes and threads of the worker's user, in its own user namespace
NOFILE = 256  # RLIMIT_NOFILE
WORK_MB = 64  # size of the throwaway /work (cwd and $HOME) and, separately, of /tmp
SHM_MB = 16  # /dev/shm
NOBODY = 65534

MODES = ("auto", "landlock", "off")  # ATTNLAB_SANDBOX; "landlock" skips namespaces, as where they are missing

# Layer ids, in the order `attnlab doctor` shows them, with their names.
LAYERS = {
    "userns": "user namespace",
    "mountns": "mount namespace / filesystem view",
    "netns": "network namespace",
    "pidns": "PID namespace",
    "landlock": "Landlock",
    "seccomp": "seccomp filter",
    "nobody": "drop to nobody",
    "rlimit_data": "rlimit: memory",
    "rlimit_fsize": "rlimit: file size",
    "rlimit_nproc": "rlimit: process count",
    "rlimit_nofile": "rlimit: open files",
}

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
NEW_ROOT = "/tmp"  # where the new root is built, inside the worker's private mount namespace
# The worker's throwaway folders in its new root: (path, size in MB, mode). Mounted before the runtime's
# copies, which may lie beneath them on the host.
SCRATCH = (("/tmp", WORK_MB, "1777"), ("/work", WORK_MB, "700"), ("/dev/shm", SHM_MB, "1777"))


class ConfineError(RuntimeError):
    """A layer the zygote's probe found working failed in a worker: the worker must not run."""


# ------------------------------------------------------------------------------------------ the kernel

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


# ------------------------------------------------------------------------------------------ the plan


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _follow(path: str) -> tuple[str, list[tuple[str, str]]]:
    """`path` with every symlink in it resolved, and the symlinks met on the way as (link, target)."""
    links: list[tuple[str, str]] = []
    parts = [p for p in path.split("/") if p]
    cur, i = "/", 0
    for _ in range(64):
        if i >= len(parts):
            break
        nxt = os.path.join(cur, parts[i])
        if os.path.islink(nxt):
            target = os.readlink(nxt)
            links.append((nxt, target))
            resolved = os.path.normpath(os.path.join(cur, target))
            parts = [p for p in resolved.split("/") if p] + parts[i + 1 :]
            cur, i = "/", 0
            continue
        cur, i = nxt, i + 1
    return cur, links


def plan(hide: list[str]) -> dict:
    """What a worker will see, computed once in the zygote: {"binds", "dirs", "links", "masks", "devices", "hide"}.

    `hide` holds the grader's package, the reference and the project checkout (from the parent). The
    runtime roots (the prefixes) are shown even when they sit inside a hidden directory, as a virtualenv
    inside the checkout does, with what is hidden inside them covered; other ``sys.path`` entries inside
    a hidden directory are left out.
    """
    hide = sorted({os.path.realpath(h) for h in hide if h})
    roots = [sys.base_prefix, sys.prefix, sys.exec_prefix, sys.base_exec_prefix]
    # Where the dynamic loader looks too: GPU machines often keep the driver's libcuda there.
    loader = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p]
    wanted = [(p, True) for p in roots] + [(p, False) for p in [*sys.path, *loader, *SYSTEM_DIRS] if p]
    binds: list[str] = []
    links: dict[str, str] = {}
    for path, essential in wanted:
        if not os.path.isabs(path) or not os.path.exists(path):
            continue
        real, met = _follow(path)
        if not essential and any(_inside(real, h) for h in hide):
            continue
        if not essential and any(_inside(scratch, real) for scratch, _, _ in SCRATCH):
            continue  # "/" or "/tmp" itself on sys.path: it would show the host's whole /tmp
        links.update(met)
        binds.append(real)
    binds = sorted(set(binds))
    binds = [b for b in binds if not any(_inside(b, other) and b != other for other in binds)]
    masks = [h for h in hide if os.path.exists(h) and any(_inside(h, b) for b in binds)]
    masks = [m for m in masks if not any(_inside(m, other) and m != other for other in masks)]  # covered already
    links = {k: v for k, v in links.items() if not any(_inside(k, b) for b in binds)}
    gpus = sorted(glob.glob("/dev/nvidia*") + glob.glob("/dev/nvidia-caps/*"))  # CUDA opens these
    devices = [d for d in [*DEVICES, *gpus] if os.path.exists(d) and not os.path.isdir(d)]
    return {
        "binds": binds,
        "dirs": [b for b in binds if os.path.isdir(b)],
        "links": sorted(links.items()),
        "masks": masks,
        "devices": devices,
        "hide": hide,
    }


# ------------------------------------------------------------------------------------------ seccomp

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
    jump(_JEQ, _AUDIT_ARCH[ARCH], 0, "deny")
    jump(_LD_W_ABS, 0)  # seccomp_data.nr
    if ARCH == "x86_64":
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
    if ARCH not in _AUDIT_ARCH:
        raise OSError(errno.ENOSYS, f"no seccomp filter written for {ARCH}")
    prog = seccomp_program()
    raw = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    filt = ctypes.create_string_buffer(raw, len(raw))
    fprog = struct.pack("HxxxxxxP", len(prog), ctypes.addressof(filt))
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    _prctl(PR_SET_SECCOMP, 2, ctypes.addressof(fbuf), what="seccomp")  # SECCOMP_MODE_FILTER
    return (
        f"{ARCH}: socket() only for AF_UNIX; ptrace, process_vm_*, bpf, perf_event_open, userfaultfd, keys, "
        "kexec, io_uring, modules, mounts and new namespaces fail with EPERM"
    )


# ------------------------------------------------------------------------------------------ Landlock

_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_ALL_V1 = (1 << 13) - 1  # execute ... make_sym
_FS_REFER, _FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FS_FILE_ONLY = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1


def landlock_abi() -> int:
    """Landlock's ABI version here, 0 when the kernel has none (or it is switched off)."""
    nr = _nr("landlock_create_ruleset")
    if nr is None:
        return 0
    ret = _libc.syscall(ctypes.c_long(nr), None, ctypes.c_size_t(0), ctypes.c_uint(1))  # ..._VERSION
    return max(int(ret), 0)


def apply_landlock(read: list[str], write: list[str], abi: int, list_only: list[str] = (), where: str = "") -> str:
    """Allow reading (and executing) beneath `read`, everything beneath `write`, listing the folders
    beneath `list_only`, and nothing else on disk.

    From ABI 4 on, TCP bind and connect are denied too; from ABI 6 on, signals to and abstract Unix
    sockets of processes outside the sandbox.
    """
    fs = _FS_ALL_V1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
    fs |= _FS_IOCTL_DEV if abi >= 5 else 0
    net = _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0
    scoped = _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL if abi >= 6 else 0
    attr = struct.pack("QQQ", fs, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    abuf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _syscall("landlock_create_ruleset", abuf, ctypes.c_size_t(len(attr)), ctypes.c_uint(0))
    try:
        reading = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
        for paths, access in ((list_only, _FS_READ_DIR), (read, reading), (write, fs)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    allowed = access if os.path.isdir(path) else access & _FS_FILE_ONLY
                    rule = ctypes.create_string_buffer(struct.pack("=Qi", allowed & fs, fd), 12)
                    _syscall("landlock_add_rule", ctypes.c_int(ruleset), ctypes.c_int(1), rule, ctypes.c_uint(0))
                finally:
                    os.close(fd)
        _syscall("landlock_restrict_self", ctypes.c_int(ruleset), ctypes.c_uint(0))
    finally:
        os.close(ruleset)
    parts = [f"ABI {abi}: files writable only {where or 'under ' + ', '.join(p for p in write if os.path.isdir(p))}"]
    parts.append("TCP bind and connect denied" if net else "TCP not restricted (needs ABI 4)")
    parts.append("signals and abstract sockets scoped" if scoped else "signals not scoped (needs ABI 6)")
    return "; ".join(parts)


# ------------------------------------------------------------------------------------------ privileges


def _drop_capabilities() -> None:
    """For good: no_new_privs, empty bounding and ambient sets, locked securebits, no capabilities."""
    _prctl(PR_SET_NO_NEW_PRIVS, 1, what="no_new_privs")
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0:
            if ctypes.get_errno() == errno.EINVAL:
                break  # past the last capability this kernel knows
            if ctypes.get_errno() != errno.EPERM:
                raise _fail(f"PR_CAPBSET_DROP {cap}")
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    # NOROOT, NO_SETUID_FIXUP, KEEP_CAPS (off) and NO_CAP_AMBIENT_RAISE, each with its lock.
    _libc.prctl(PR_SET_SECUREBITS, 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80, 0, 0, 0)
    header = ctypes.create_string_buffer(struct.pack("Ii", 0x20080522, 0), 8)  # _LINUX_CAPABILITY_VERSION_3
    data = ctypes.create_string_buffer(bytes(24), 24)
    _syscall("capset", header, data)


def _closed_to_nobody(paths: list[str]) -> str | None:
    """The first of `paths` (or a folder above one) that others may not enter or read, else None."""
    for path in paths:
        parts = path.rstrip("/").split("/")
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth]) or "/"
            try:
                st = os.stat(folder)
            except OSError:
                return folder
            need = stat.S_IXOTH | (stat.S_IROTH if depth == len(parts) else 0)
            if stat.S_ISDIR(st.st_mode) and st.st_mode & need != need:
                return folder
    return None


def _become_nobody() -> None:
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    _prctl(PR_SET_DUMPABLE, 1, what="dumpable")  # so that we may write our own uid_map


def _limit(which: int, value: int) -> None:
    _, hard = resource.getrlimit(which)
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(which, (value, value))


def _data_size() -> int:
    """What this process already counts against RLIMIT_DATA (VmData: private writable mappings)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


def _limit_memory(memory_mb: int) -> None:
    """RLIMIT_DATA, `memory_mb` on top of what is allocated now.

    Not RLIMIT_AS: CUDA's driver reserves address ranges of many GB (never backed), so an address-space
    cap breaks its start-up in a worker that runs cuda cases. RLIMIT_DATA counts the private writable
    memory that an allocation (malloc, a tensor, a bytearray) takes, which is what a memory bomb uses.
    """
    _limit(resource.RLIMIT_DATA, _data_size() + int(memory_mb) * (1 << 20))


# ------------------------------------------------------------------------------------------ the new root


def _mkdirs(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


def _touch(path: str) -> None:
    _mkdirs(os.path.dirname(path))
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o444))


def _build_root(p: dict, trees: dict[str, int], submission: str | None) -> None:
    """Build the worker's filesystem on a tmpfs at NEW_ROOT and pivot into it. See the module docstring.

    The throwaway folders (/tmp, /work, /dev/shm) are mounted first and the runtime's read-only copies
    after them, so that a runtime, a ``sys.path`` entry or a submission that lives under /tmp or /work
    on the host (a venv in /tmp/venv, a checkout in /work/...) shows through instead of being covered.
    """
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = NEW_ROOT
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=755")
    for path, size, mode in SCRATCH:
        _mkdirs(root + path)
        _mount("tmpfs", root + path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size}m,mode={mode}")
    for src in p["binds"]:
        target = root + src
        (_mkdirs if os.path.isdir(src) or src in p["dirs"] else _touch)(target)
        _attach(trees[src], target)
        _read_only(target)
    for link, dest in p["links"]:
        _mkdirs(os.path.dirname(root + link))
        os.symlink(dest, root + link)
    for hidden in p["masks"]:
        if os.path.isdir(root + hidden):
            _mount("tmpfs", root + hidden, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555")
        else:  # a module that is one file: an empty one over it
            _touch(root + "/.empty")
            _mount(root + "/.empty", root + hidden, None, MS_BIND)
            _read_only(root + hidden, recursive=False)
    for dev in p["devices"]:
        _touch(root + dev)
        _attach(trees[dev], root + dev)
    for name, dest in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(dest, f"{root}/dev/{name}")
    _mkdirs(root + "/proc")
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if submission is not None:
        _mkdirs(root + "/submission")
        _attach(trees["submission"], root + "/submission")
        _read_only(root + "/submission")
    os.chdir(root)
    os.mkdir(".old")
    _syscall("pivot_root", b".", b".old")
    if _libc.umount2(b"/.old", MNT_DETACH) < 0:
        raise _fail("umount /.old")
    os.rmdir("/.old")
    _read_only("/", recursive=False)
    os.chdir("/work")


def _clone_sources(p: dict, submission: str | None) -> dict[str, int]:
    """Detached copies (open_tree) of everything the new root shows, made while we may still read it all.

    A plain bind mount cannot take its source from another mount namespace, and once we are nobody in
    a new one, /root (where pyenv keeps Python) is closed to us; a detached copy can be attached anywhere.
    """
    trees = {}
    try:
        for path in p["binds"] + p["devices"] + ([submission] if submission else []):
            flags = 1 | os.O_CLOEXEC | (AT_RECURSIVE if path not in p["devices"] else 0)  # OPEN_TREE_CLONE
            key = "submission" if path == submission else path
            trees[key] = _syscall("open_tree", ctypes.c_int(-100), path.encode(), ctypes.c_uint(flags))
    except OSError:
        for fd in trees.values():
            os.close(fd)
        raise
    return trees


def _attach(tree: int, target: str) -> None:
    empty_path = 4  # MOVE_MOUNT_F_EMPTY_PATH: `tree` itself is the source
    _syscall("move_mount", ctypes.c_int(tree), b"", ctypes.c_int(-100), target.encode(), ctypes.c_uint(empty_path))


# ------------------------------------------------------------------------------------------ entering


def enter(spec: dict) -> dict:
    """Confine this (single-threaded, freshly forked) process; returns {"layers", "cwd", "submission"}.

    spec: {"mode": "auto" | "landlock" | "off", "plan": plan(...), "workdir": the host folder with work/
    and submission/ in it, "memory_mb": the memory allowed on top of what is allocated now (or
    None), "submission": the submission's file name (its copy is in submission/) or None, "require":
    ids of layers that must come up, else ConfineError, "skip": {layer id: why} for layers not to try
    (the probe saw them fail: a worker gets the layers that work, never a half-built one)}.

    With a PID namespace, this returns in the inner process only; the outer one never returns.
    """
    layers: dict[str, tuple[bool, str]] = {}
    mode = spec.get("mode", "auto")
    skip = dict(spec.get("skip") or {})  # layer -> why: the zygote's probe saw it fail, so never half-build it
    workdir, name = spec["workdir"], spec.get("submission")
    work, subdir = os.path.join(workdir, "work"), os.path.join(workdir, "submission")
    euid = os.geteuid()
    result = {"layers": layers, "cwd": work, "submission": os.path.join(subdir, name) if name else None}
    if mode == "off":
        os.chdir(work)
        layers.update({k: (False, "switched off (ATTNLAB_SANDBOX=off)") for k in LAYERS})
        _limit(resource.RLIMIT_CORE, 0)
        if spec.get("memory_mb"):
            _limit_memory(spec["memory_mb"])
        return result
    p = spec["plan"]
    # Without a new root the worker reads the runtime where it lies, so nobody must be able to.
    new_root = mode == "auto" and "mountns" not in skip
    closed = _closed_to_nobody(p["binds"]) if euid == 0 and not new_root else None
    if euid == 0 and closed is None:
        os.chown(work, NOBODY, NOBODY)
    os.chdir(work)  # while still privileged: the folders above it may be closed to nobody
    trees: dict[str, int] = {}
    no_trees = ""
    if euid == 0 and new_root:
        try:
            trees = _clone_sources(p, subdir if name else None)
        except OSError as e:
            no_trees = str(e)

    if euid == 0 and closed is None:
        _become_nobody()
        layers["nobody"] = (True, "uid and gid 65534, no supplementary groups; later no capabilities, no_new_privs")
    elif euid == 0:
        layers["nobody"] = (False, f"{closed} is closed to nobody, so the worker keeps uid 0, without any capability")
    else:
        layers["nobody"] = (False, f"started as uid {euid}, not root: the worker keeps that uid")
    dropped = layers["nobody"][0]
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # a change of uid cleared it

    userns = _namespaces(mode, layers, skip)
    if layers["mountns"][0] and not trees and not no_trees:
        try:
            trees = _clone_sources(p, subdir if name else None)  # not root: now we may
        except OSError as e:
            no_trees = str(e)
    if layers["pidns"][0]:
        _split()  # returns in the inner process only, PID 1 of the new namespace
        layers["pidns"] = (
            True,
            "the worker is PID 1 of its own namespace: all it starts, setsid daemons included, dies with it",
        )
    if layers["netns"][0]:
        layers["netns"] = (True, "no interface is up; 127.0.0.1 is not the host's")
    if layers["mountns"][0] and no_trees:
        layers["mountns"] = (False, f"cannot copy the runtime's mounts ({no_trees})")
    if layers["mountns"][0]:
        _build_root(p, trees, name)
        result.update(cwd="/work", submission=f"/submission/{name}" if name else None)
        os.environ.update(HOME="/work", TMPDIR="/tmp")
        layers["mountns"] = (
            True,
            "new root: Python runtime, /usr and /etc read-only; private /work (cwd, $HOME) "
            "and /tmp; no grader, reference, tests or other submissions",
        )
    else:
        os.environ.update(HOME=work, TMPDIR=work)
    for fd in trees.values():
        os.close(fd)

    _limits(layers, userns or dropped, spec.get("memory_mb"))
    _drop_capabilities()
    abi = landlock_abi()
    if "landlock" in skip:
        layers["landlock"] = (False, skip["landlock"])
    elif abi:
        if layers["mountns"][0]:
            read, write, list_only, where = ["/"], ["/work", "/tmp", "/dev/shm", *p["devices"]], [], ""
        else:
            where = "in the worker's own folder; only the runtime is readable"
            read, list_only = _around(p["binds"], p["masks"])
            read += ([subdir] if name else []) + ["/proc/self"]
            write = [work, *p["devices"]]
        try:
            layers["landlock"] = (True, apply_landlock(read, write, abi, list_only, where))
        except OSError as e:
            layers["landlock"] = (False, f"failed: {e}")
    else:
        layers["landlock"] = (False, "not in this kernel (or switched off at boot)")
    if "seccomp" in skip:
        layers["seccomp"] = (False, skip["seccomp"])
    else:
        try:
            layers["seccomp"] = (True, apply_seccomp())
        except OSError as e:
            layers["seccomp"] = (False, str(e))

    missing = [k for k in spec.get("require", []) if not layers.get(k, (False,))[0]]
    if missing:
        raise ConfineError(
            f"sandbox layer(s) {', '.join(missing)} did not come up in this worker: "
            + "; ".join(layers[k][1] for k in missing)
        )
    return result


def _namespaces(mode: str, layers: dict, skip: dict[str, str]) -> bool:
    """New user, mount, network, PID, IPC and UTS namespaces, as many as this machine allows, less those
    in `skip` (layer -> why), which the probe saw fail."""
    uid, gid = os.geteuid(), os.getegid()
    userns = False
    if "userns" in skip:
        layers["userns"] = (False, skip["userns"])
    elif mode == "auto":
        try:
            _unshare(CLONE_NEWUSER, "user")
            for path, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
                with open(f"/proc/self/{path}", "w") as f:
                    f.write(text)
            userns = True
            layers["userns"] = (True, f"only uid {uid} and gid {gid} exist inside, each mapped to itself")
        except OSError as e:
            layers["userns"] = (False, f"unavailable here ({e.strerror})")
    else:
        layers["userns"] = (False, "skipped (ATTNLAB_SANDBOX=landlock)")
    for layer, flag, what in (
        ("mountns", CLONE_NEWNS, "mount"),
        ("netns", CLONE_NEWNET, "network"),
        ("pidns", CLONE_NEWPID, "pid"),
        ("", CLONE_NEWIPC | CLONE_NEWUTS, "ipc, uts"),
    ):
        ok, why = False, "needs a user namespace"
        if layer in skip:
            why = skip[layer]
        elif userns:
            try:
                _unshare(flag, what)
                ok, why = True, ""
            except OSError as e:
                why = f"unavailable here ({e.strerror})"
        if layer:
            layers[layer] = (ok, why)
    return userns


def _split() -> None:
    """Fork. The outer process closes everything, waits for the inner one and exits with its status; the
    inner one returns, set to die with the outer one (and so, as PID 1, with everything it started)."""
    alive_r, alive_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(alive_w)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if _readable(alive_r):
            os._exit(1)  # the outer process died before we asked to die with it: its end of the pipe closed
        os.close(alive_r)
        return
    os.closerange(0, alive_w)
    os.closerange(alive_w + 1, 1 << 16)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _limits(layers: dict, nproc: bool, memory_mb: int | None) -> None:
    """rlimits, soft and hard. RLIMIT_NPROC comes after the user namespace: it then counts that
    namespace's processes only; without one it would count all of the user's processes on the host."""
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_FSIZE, FILE_MB << 20)
    layers["rlimit_fsize"] = (True, f"{FILE_MB} MB per file")
    _limit(resource.RLIMIT_NOFILE, NOFILE)
    layers["rlimit_nofile"] = (True, f"{NOFILE} open files")
    if nproc:
        _limit(resource.RLIMIT_NPROC, NPROC)
        layers["rlimit_nproc"] = (True, f"{NPROC} processes and threads")
    elif os.getuid() == 0:
        layers["rlimit_nproc"] = (False, "the kernel never enforces it for uid 0")
    else:
        why = f"not set: without a user namespace it would count all of uid {os.getuid()}'s processes"
        layers["rlimit_nproc"] = (False, why)
    if memory_mb:
        _limit_memory(memory_mb)
        layers["rlimit_data"] = (
            True,
            "limits.memory_mb of course.yml per process (RLIMIT_DATA), on top of what "
            "torch has allocated; the GPU's memory is capped by limits.gpu_memory_mb",
        )
    else:
        layers["rlimit_data"] = (False, "no memory limit was asked for")


def _around(roots: list[str], holes: list[str]) -> tuple[list[str], list[str]]:
    """Landlock rules only add, so a hidden folder inside a shown one is left out by showing its
    siblings instead, recursively: (folders and files to read, folders on the way that may be listed)."""
    read: list[str] = []
    listed: list[str] = []
    todo = list(roots)
    while todo:
        path = todo.pop()
        if path in holes:
            continue
        if not any(_inside(h, path) for h in holes):
            read.append(path)
            continue
        listed.append(path)
        try:
            todo += [os.path.join(path, child) for child in os.listdir(path)]
        except OSError:
            pass
    return read, listed


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


# ------------------------------------------------------------------------------------------ probing


class Forked:
    """`fn` running in a throwaway forked child, which answers with the JSON object `fn` returns.

    Fork it while the process is single-threaded. `answer()` waits: the object, ``{"error": ...}`` where
    `fn` raised, or None where the child died without a whole answer.
    """

    def __init__(self, fn: Callable[[], dict]):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                try:
                    payload = fn()
                except BaseException as e:  # noqa: BLE001 - report whatever went wrong, never raise in a fork
                    payload = {"error": f"{type(e).__name__}: {e}"}
                data = json.dumps(payload).encode()
                while data:
                    data = data[os.write(w, data) :]
            finally:
                os._exit(0)
        os.close(w)
        self.pid, self.fd = pid, r

    def answer(self) -> dict | None:
        chunks = []
        with os.fdopen(self.fd, "rb") as f:
            while chunk := f.read(65536):
                chunks.append(chunk)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        try:
            answer = json.loads(b"".join(chunks))
        except ValueError:
            return None
        return answer if isinstance(answer, dict) else None


class Probe(Forked):
    """`probe` running in a throwaway child; `result()` waits for its answer."""

    def result(self) -> dict[str, list]:
        answer = self.answer()
        if not answer or "error" in answer:
            why = (answer or {}).get("error", "the probe process died")
            return {k: [False, f"probe failed: {why}"] for k in LAYERS}
        return answer


def probe(spec: dict) -> Probe:
    """Try every layer in a forked child with `spec` (as for `enter`, with a scratch workdir).

    Call it while the process is single-threaded. Each layer is checked from inside as well: the hidden
    paths must be gone or unreadable, an AF_INET socket refused, the child PID 1, and so on.
    """
    return Probe(lambda: {k: list(v) for k, v in _check(enter(spec), spec).items()})


def _leaks(hidden: str, binds: list[str]) -> str:
    """What of a hidden path can be read here, in words; "" when nothing.

    An empty folder or file (a mask) shows nothing, and neither does a folder that holds only the way
    to a runtime folder shown inside it (a venv inside the checkout: the checkout lists ``.venv``).
    """
    try:
        if not os.path.isdir(hidden):
            with open(hidden, "rb") as f:
                return "its contents" if f.read(1) else ""
        entries = set(os.listdir(hidden))
    except OSError:
        return ""
    ways = {b[len(hidden) :].lstrip("/").split("/")[0] for b in binds if _inside(b, hidden) and b != hidden}
    extra = sorted(entries - ways)
    return f"it lists {', '.join(extra[:3])}" if extra else ""


def _check(result: dict, spec: dict) -> dict[str, tuple[bool, str]]:
    """Look, from inside the sandbox, at what each layer claims to do; a claim that fails is withdrawn."""
    layers = dict(result["layers"])

    def withdraw(layer: str, why: str) -> None:
        if layers.get(layer, (False,))[0]:
            layers[layer] = (False, why)

    for h in spec["plan"]["hide"]:
        shown = _leaks(h, spec["plan"]["binds"])
        if shown:
            for layer in ("mountns", "landlock"):
                withdraw(layer, f"{h} is still readable ({shown})")
    if not os.path.exists(sys.executable):
        withdraw("mountns", f"{sys.executable} is missing")
    for path in spec["plan"]["binds"]:  # the runtime and every sys.path entry: imports need them all
        try:
            os.listdir(path) if os.path.isdir(path) else open(path, "rb").close()
        except OSError as e:
            layer = "mountns" if layers.get("mountns", (False,))[0] else "landlock"
            withdraw(
                layer,
                f"{path} is {'missing' if e.errno == errno.ENOENT else 'not readable'} inside, "
                "so imports from it would fail",
            )
    try:
        os.listdir(os.path.dirname(os.__file__))
    except OSError as e:
        for layer in ("mountns", "landlock"):
            withdraw(layer, f"the Python runtime is not readable inside ({e.strerror}): imports would fail")
    if result["submission"] and not os.path.exists(result["submission"]):
        withdraw("mountns", "the private copy of the submission is missing")
    try:
        with open("/proc/self/net/dev") as f:
            interfaces = [line.split(":")[0].strip() for line in f.readlines()[2:]]
        if [i for i in interfaces if i != "lo"]:
            withdraw("netns", f"interfaces {', '.join(interfaces)} are visible")
    except OSError:
        pass
    if os.getpid() != 1:
        withdraw("pidns", f"the worker is PID {os.getpid()}, not 1")
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
        withdraw("seccomp", "an AF_INET socket was allowed")
    except PermissionError:
        pass
    if spec.get("mode") != "off" and os.geteuid() == 0:
        withdraw("nobody", "still root")
    return layers


if __name__ == "__main__":
    # python -I confine.py HIDE... : what a worker of this Python would get, as JSON (for debugging).
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for d in ("work", "submission"):
            os.mkdir(os.path.join(tmp, d))
        os.chmod(tmp, 0o711)
        spec = {
            "mode": os.environ.get("ATTNLAB_SANDBOX", "auto"),
            "plan": plan(sys.argv[1:]),
            "workdir": tmp,
            "memory_mb": 2048,
            "submission": None,
        }
        print(json.dumps(probe(spec).result(), indent=1))
