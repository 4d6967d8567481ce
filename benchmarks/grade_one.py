"""Wall time of `attnlab grade` on one .py submission, next to `python -c "import torch"`, in one run.

    python benchmarks/grade_one.py [--repeat 5] [SUBMISSION]

The commands run alternately, REPEAT times each, as fresh processes; the table shows the medians and
their ratio to `import torch`. The target is a ratio of at most 1.7: grading should cost little more
than starting torch. A third row grades the four bundled examples in one run, which shows what each
further submission costs once the child process is warm (how an instructor grades a class). The
rows marked "sandbox off" run the same with ATTNLAB_SANDBOX=off, so the sandbox's own cost (mostly
building each worker's namespaces and private root) shows side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]


def wall(cmd: list[str], env: dict | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("submission", nargs="?", default=str(REPO / "assignments" / "examples" / "correct.py"))
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    grade = [sys.executable, "-m", "attnlab.cli", "grade", args.submission, "--json", "--seed", "1"]
    examples = sorted(str(p) for p in (REPO / "assignments" / "examples").glob("*.py"))
    grade_class = [sys.executable, "-m", "attnlab.cli", "grade", *examples, "--json", "--seed", "1"]
    off = {**os.environ, "ATTNLAB_SANDBOX": "off"}
    class_name = f"attnlab grade, {len(examples)} submissions"
    commands = {
        "import torch": ([sys.executable, "-c", "import torch"], None),
        "attnlab grade": (grade, None),
        "attnlab grade, sandbox off": (grade, off),
        class_name: (grade_class, None),
        f"{class_name}, sandbox off": (grade_class, off),
    }
    for cmd, env in commands.values():
        wall(cmd, env)  # warm the file cache
    times = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, (cmd, env) in commands.items():
            times[name].append(wall(cmd, env))
    base = statistics.median(times["import torch"])
    t = Table(title=f"attnlab grade {Path(args.submission).name}, median of {args.repeat}")
    t.add_column("command")
    t.add_column("median s", justify="right")
    t.add_column("min s", justify="right")
    t.add_column("ratio", justify="right")
    for name, ts in times.items():
        t.add_row(name, f"{statistics.median(ts):.2f}", f"{min(ts):.2f}", f"{statistics.median(ts) / base:.2f}x")
    Console().print(t)


if __name__ == "__main__":
    main()
