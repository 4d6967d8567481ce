"""Giving up privileges: capabilities, root (for nobody) and the rlimits."""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import stat
import struct

from .kernel import (
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAPBSET_DROP,
    PR_SET_DUMPABLE,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_SECUREBITS,
    _fail,
    _libc,
    _prctl,
    _syscall,
)
from .policy import NOBODY


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
