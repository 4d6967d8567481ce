"""Wall time of autograding a class with nbgrader, three ways, on the same lesson-3 notebooks, in one run.

    python benchmarks/nbgrader_class.py [--students 20] [--jobs 2]

One course root is built (tests/nbgrader_class.py: generate_assignment, then STUDENTS notebooks of
lesson3_masking in submitted/, right work and the typical mistakes), and each way runs as one command, a
fresh process, from a fresh copy of it:

    (a) plain nbgrader:    `nbgrader autograde`, nbgrader's own Execute, no attnlab in its config: each
                           notebook runs in a Jupyter kernel and its test cells give the score
    (b) attnlab, serial:   `nbgrader autograde` with `attnlab nbgrader-config`'s config: TrustedGrades grades
                           one notebook at a time
    (c) attnlab autograde: `attnlab autograde lesson3_masking --jobs N`: the class graded in parallel, then
                           nbgrader's autograde with every grade taken from the results file

The table shows each command's wall time, per notebook, and its ratio to (c); `python -c "import torch"`
is there for scale. The target: (c) at least 20x faster per notebook than (a). (b) and (c) must store the
same grades; the run checks that too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from attnlab.course import load_course
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from nbgrader_class import L3, build_class, lesson_class, plain_nbgrader_config  # noqa: E402

SEED = "20261102"
TARGET = 20.0  # (a) / (c), per notebook


def wall(cmd: list[str], cwd: Path, env: dict) -> float:
    """Seconds `cmd` took, run from `cwd`; stops the benchmark, with its log, if it failed."""
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} (in {cwd}) failed with exit code {out.returncode}:\n{out.stderr[-4000:]}")
    return seconds


def grades(root: Path) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", load_course(root / "course.yml").course_id) as gb:
        return {
            (s.student_id, g.name): (g.auto_score, g.needs_manual_grade)
            for s in gb.assignment_submissions(L3)
            for nb in s.notebooks
            for g in nb.grades
        }


def cores() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{usable} usable of {os.cpu_count()}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=20, help="notebooks of lesson3_masking to grade (default 20)")
    p.add_argument("--jobs", type=int, default=2, help="attnlab autograde --jobs (default 2)")
    args = p.parse_args()
    env = {**os.environ, "ATTNLAB_SECRET_SEED": SEED}
    console = Console()
    console.print(f"cores: {cores()}; {args.students} notebooks of {L3}")

    with tempfile.TemporaryDirectory(prefix="attnlab-bench-class-") as tmp:
        with console.status("building the course root (generate_assignment, submitted notebooks)"):
            base = build_class(Path(tmp, "course"), lesson_class(L3, args.students), env=env)
        nbgrader = [sys.executable, "-m", "nbgrader", "autograde", L3]
        attnlab = [sys.executable, "-m", "attnlab.cli", "autograde", L3, "--jobs", str(args.jobs)]
        runs = {  # key: (what, command)
            "a": ("(a) nbgrader autograde, kernels", nbgrader),
            "b": ("(b) nbgrader autograde, trusted", nbgrader),
            "c": (f"(c) attnlab autograde --jobs {args.jobs}", attnlab),
        }
        times = {}
        for key, (what, cmd) in runs.items():
            root = Path(tmp, key)
            shutil.copytree(base, root)
            if key == "a":  # nbgrader alone: no attnlab in its config
                (root / "nbgrader_config.py").write_text(
                    plain_nbgrader_config(load_course(base / "course.yml").course_id)
                )
            with console.status(f"{what}: {args.students} notebooks"):
                times[key] = wall(cmd, root, env)
            console.print(f"{what}: {times[key]:.1f} s")
        same = grades(Path(tmp, "b")) == grades(Path(tmp, "c"))
        torch = wall([sys.executable, "-c", "import torch"], REPO, env)

    table = Table(title=f"autograde of {args.students} {L3} notebooks, {cores()} cores")
    for column in ("command", "wall s", "s / notebook", "ratio to (c)"):
        table.add_column(column, justify="left" if column == "command" else "right")
    for key, (what, _) in runs.items():
        seconds = times[key]
        table.add_row(what, f"{seconds:.1f}", f"{seconds / args.students:.2f}", f"{seconds / times['c']:.1f}x")
    table.add_row('python -c "import torch"', f"{torch:.1f}", "", "")
    console.print(table)
    ratio = times["a"] / times["c"]
    verdict = "met" if ratio >= TARGET else "NOT met"
    console.print(f"(a)/(c) = {ratio:.1f}x: the target of {TARGET:g}x is {verdict}")
    console.print(f"(b) and (c) stored {'the same' if same else 'DIFFERENT'} grades")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
