"""Confine a grader worker: the sandbox around student code, with neither root nor Docker.

Standalone on purpose: the standard library and ctypes only, and no import from outside this package.

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

The modules, in the order a worker meets them:

- ``policy``: the limits every worker gets, the layer ids, the host paths shown, `ConfineError`.
- ``kernel``: syscall numbers and ctypes wrappers (prctl, unshare, mount, mount_setattr).
- ``view``: `plan`, what a worker will see, computed once in the zygote.
- ``privileges``: capabilities, the drop to nobody, rlimits.
- ``newroot``: the detached copies of the shown mounts and the new root built from them.
- ``landlock`` and ``seccomp``: the two filters applied last.
- ``entering``: `enter`, steps 1 to 5 above in that order.
- ``probing``: `probe` and `Forked`, every layer tried and checked in a throwaway child.
- ``__main__``: ``python -I -m attnlab.child.confine HIDE...`` prints what a worker here would get.
"""

from __future__ import annotations

from .entering import enter
from .kernel import _AUDIT_ARCH, ARCH, _nr
from .landlock import apply_landlock, landlock_abi
from .policy import (
    DEVICES,
    FILE_MB,
    LAYERS,
    MODES,
    NEW_ROOT,
    NOBODY,
    NOFILE,
    NPROC,
    SCRATCH,
    SHM_MB,
    SYSTEM_DIRS,
    WORK_MB,
    ConfineError,
)
from .privileges import _closed_to_nobody
from .probing import Forked, Probe, _check, _leaks, probe
from .seccomp import DENIED, apply_seccomp, seccomp_program
from .view import plan

# What the zygote, the grading side and the tests use; the private names are for the tests.
__all__ = [
    "ARCH",
    "DENIED",
    "DEVICES",
    "FILE_MB",
    "LAYERS",
    "MODES",
    "NEW_ROOT",
    "NOBODY",
    "NOFILE",
    "NPROC",
    "SCRATCH",
    "SHM_MB",
    "SYSTEM_DIRS",
    "WORK_MB",
    "ConfineError",
    "Forked",
    "Probe",
    "apply_landlock",
    "apply_seccomp",
    "enter",
    "landlock_abi",
    "plan",
    "probe",
    "seccomp_program",
    "_AUDIT_ARCH",
    "_check",
    "_closed_to_nobody",
    "_leaks",
    "_nr",
]
