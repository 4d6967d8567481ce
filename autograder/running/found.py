"""The submissions a run finds on disk: files and folders as given, and who handed each in.

    expand(["submitted/"])  # every .py and .ipynb under it, sorted, each a `Found`

A file under nbgrader's ``submitted/<student>/<assignment>/`` layout is that student's for that assignment;
elsewhere the student is the file's stem and the assignment is unknown.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SUFFIXES = (".py", ".ipynb")
SKIPPED_FOLDERS = {".ipynb_checkpoints", "__pycache__", ".git"}


@dataclass(frozen=True)
class Found:
    """One submission found on disk: its path, and who handed it in where the layout says."""

    path: Path
    student: str | None = None
    assignment: str | None = None


def _nbgrader_owner(path: Path) -> tuple[str, str] | None:
    """(student, assignment) where `path` is ``.../submitted/<student>/<assignment>/<file>``, else None."""
    parts = path.parts
    if len(parts) >= 4 and parts[-4] == "submitted":
        return parts[-3], parts[-2]
    return None


def found(path: Path) -> Found:
    owner = _nbgrader_owner(path)
    if owner:
        return Found(path, *owner)
    return Found(path, path.stem, None)


def expand(paths: list[str]) -> list[Found]:
    """The submissions in `paths`, in a stable order: a file as given; a folder, every .py and .ipynb under
    it (checkpoints, caches and hidden folders left out), sorted by path. A path that does not exist stays,
    so that its result says so."""
    out: list[Found] = []
    for p in paths:
        path = Path(p)
        if not path.is_dir():
            out.append(found(path))
            continue
        files = []
        for root, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_FOLDERS and not d.startswith("."))
            files += [Path(root, n) for n in names if n.endswith(SUFFIXES) and not n.startswith(".")]
        out += [found(f) for f in sorted(files)]
    return out
