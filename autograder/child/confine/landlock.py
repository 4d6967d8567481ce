"""Landlock: which files a worker may read and write, and (with newer kernels) no TCP and scoped signals."""

from __future__ import annotations

import ctypes
import os
import struct

from .kernel import _libc, _nr, _syscall

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
