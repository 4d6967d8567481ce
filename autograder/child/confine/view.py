"""The plan: what a worker will see of the host, computed once in the zygote (see `plan`)."""

from __future__ import annotations

import glob
import os
import sys

from .policy import DEVICES, SCRATCH, SYSTEM_DIRS


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
