"""Entering the sandbox: `enter`, and its steps in order (privileges, namespaces, the new root, the limits,
Landlock, seccomp). See the package docstring."""

from __future__ import annotations

import os
import resource
import select
import signal

from .kernel import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    PR_SET_PDEATHSIG,
    _prctl,
    _unshare,
)
from .landlock import apply_landlock, landlock_abi
from .newroot import _build_root, _clone_sources
from .policy import FILE_MB, LAYERS, NOBODY, NOFILE, NPROC, ConfineError
from .privileges import _become_nobody, _closed_to_nobody, _drop_capabilities, _limit, _limit_memory
from .seccomp import apply_seccomp
from .view import _inside


def enter(spec: dict) -> dict:
    """Confine this (single-threaded, freshly forked) process; returns {"layers", "cwd", "submission"}.

    spec: {"mode": "auto" | "landlock" | "off", "plan": plan(...), "workdir": the host folder with work/
    and submission/ in it, "memory_mb": the memory allowed on top of what is allocated now (or
    None), "submission": the submission's file name (its copy is in submission/) or None, "require":
    ids of layers that must come up, else ConfineError, "skip": {layer id: why} for layers not to try
    (the probe saw them fail: a worker gets the layers that work, never a half-built one)}.

    With a PID namespace, this returns in the inner process only; the outer one never returns.

    The steps, in this order: copy the mounts to show and drop root (`_drop_root`), the namespaces, the
    fork into the PID namespace, the new root (`_show`), the rlimits, no capabilities, Landlock, seccomp.
    """
    layers: dict[str, tuple[bool, str]] = {}
    mode = spec.get("mode", "auto")
    skip = dict(spec.get("skip") or {})  # layer -> why: the zygote's probe saw it fail, so never half-build it
    workdir, name = spec["workdir"], spec.get("submission")
    work, subdir = os.path.join(workdir, "work"), os.path.join(workdir, "submission")
    result = {"layers": layers, "cwd": work, "submission": os.path.join(subdir, name) if name else None}
    if mode == "off":
        _switched_off(work, layers, spec.get("memory_mb"))
        return result
    p = spec["plan"]
    source = subdir if name else None  # the folder with the private copy of the submission
    # Without a new root the worker reads the runtime where it lies, so nobody must be able to.
    new_root = mode == "auto" and "mountns" not in skip
    trees, no_trees = _drop_root(p, work, source, new_root, layers)
    dropped = layers["nobody"][0]

    userns = _namespaces(mode, layers, skip)
    if layers["mountns"][0] and not trees and not no_trees:
        trees, no_trees = _copies(p, source)  # not root: now we may
    if layers["pidns"][0]:
        _split()  # returns in the inner process only, PID 1 of the new namespace
        layers["pidns"] = (
            True,
            "the worker is PID 1 of its own namespace: all it starts, setsid daemons included, dies with it",
        )
    if layers["netns"][0]:
        layers["netns"] = (True, "no interface is up; 127.0.0.1 is not the host's")
    _show(p, trees, no_trees, name, work, layers, result)

    _limits(layers, userns or dropped, spec.get("memory_mb"))
    _drop_capabilities()
    _landlock(p, work, source, layers, skip)
    _seccomp(layers, skip)
    _require(spec.get("require", []), layers)
    return result


def _switched_off(work: str, layers: dict, memory_mb: int | None) -> None:
    """ATTNLAB_SANDBOX=off: no layer, only the worker's folder as cwd, no core files and the memory limit."""
    os.chdir(work)
    layers.update({k: (False, "switched off (ATTNLAB_SANDBOX=off)") for k in LAYERS})
    _limit(resource.RLIMIT_CORE, 0)
    if memory_mb:
        _limit_memory(memory_mb)


def _copies(p: dict, submission: str | None) -> tuple[dict[str, int], str]:
    """`_clone_sources`: the detached copies and "", or none and why not."""
    try:
        return _clone_sources(p, submission), ""
    except OSError as e:
        return {}, str(e)


def _drop_root(p: dict, work: str, source: str | None, new_root: bool, layers: dict) -> tuple[dict[str, int], str]:
    """While still privileged: give the worker's folder to nobody, step into it and (for a new root) copy the
    mounts to show; then become nobody, where nobody may read the runtime. Returns `_copies`' answer."""
    euid = os.geteuid()
    closed = _closed_to_nobody(p["binds"]) if euid == 0 and not new_root else None
    if euid == 0 and closed is None:
        os.chown(work, NOBODY, NOBODY)
    os.chdir(work)  # while still privileged: the folders above it may be closed to nobody
    trees: dict[str, int] = {}
    no_trees = ""
    if euid == 0 and new_root:
        trees, no_trees = _copies(p, source)

    if euid == 0 and closed is None:
        _become_nobody()
        layers["nobody"] = (True, "uid and gid 65534, no supplementary groups; later no capabilities, no_new_privs")
    elif euid == 0:
        layers["nobody"] = (False, f"{closed} is closed to nobody, so the worker keeps uid 0, without any capability")
    else:
        layers["nobody"] = (False, f"started as uid {euid}, not root: the worker keeps that uid")
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # a change of uid cleared it
    return trees, no_trees


def _show(
    p: dict, trees: dict[str, int], no_trees: str, name: str | None, work: str, layers: dict, result: dict
) -> None:
    """In the new mount namespace, build the new root from the copies (and point `result` into it); without
    one, the worker stays in its folder. The copies are closed either way."""
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


def _landlock(p: dict, work: str, source: str | None, layers: dict, skip: dict[str, str]) -> None:
    """Landlock: with a new root, writes only in its throwaway folders; without one, the runtime (and the
    submission's copy) readable and only the worker's folder writable."""
    abi = landlock_abi()
    if "landlock" in skip:
        layers["landlock"] = (False, skip["landlock"])
    elif abi:
        if layers["mountns"][0]:
            read, write, list_only, where = ["/"], ["/work", "/tmp", "/dev/shm", *p["devices"]], [], ""
        else:
            where = "in the worker's own folder; only the runtime is readable"
            read, list_only = _around(p["binds"], p["masks"])
            read += ([source] if source else []) + ["/proc/self"]
            write = [work, *p["devices"]]
        try:
            layers["landlock"] = (True, apply_landlock(read, write, abi, list_only, where))
        except OSError as e:
            layers["landlock"] = (False, f"failed: {e}")
    else:
        layers["landlock"] = (False, "not in this kernel (or switched off at boot)")


def _seccomp(layers: dict, skip: dict[str, str]) -> None:
    if "seccomp" in skip:
        layers["seccomp"] = (False, skip["seccomp"])
    else:
        try:
            layers["seccomp"] = (True, apply_seccomp())
        except OSError as e:
            layers["seccomp"] = (False, str(e))


def _require(required: list[str], layers: dict) -> None:
    """ConfineError unless every layer in `required` came up."""
    missing = [k for k in required if not layers.get(k, (False,))[0]]
    if missing:
        raise ConfineError(
            f"sandbox layer(s) {', '.join(missing)} did not come up in this worker: "
            + "; ".join(layers[k][1] for k in missing)
        )


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
