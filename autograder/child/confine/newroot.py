"""The worker's new root: detached copies of what it shows, a tmpfs to attach them on, and the pivot into it."""

from __future__ import annotations

import ctypes
import os

from .kernel import (
    AT_RECURSIVE,
    MNT_DETACH,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    _fail,
    _libc,
    _mount,
    _read_only,
    _syscall,
)
from .policy import NEW_ROOT, SCRATCH


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
