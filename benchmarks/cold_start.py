"""Cold start of `attnlab grade` on one .py submission, next to `python -c "import torch"`.

    python benchmarks/cold_start.py [--repeat 7] [SUBMISSION]

Both commands run as fresh processes, alternately, REPEAT times each; the table shows their medians side by
side and the ratio. The target is a ratio of at most 1.5: grading one file from cold should cost little more
than starting torch. One untimed run of each comes first, so that the file cache is warm and the self-check's
verdict is cached (`attnlab.running.selfcheck`): what is timed is a grade, not the once-per-environment check.
`benchmarks/grade_one.py` times the same next to the sandbox's cost and a class of four.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.5  # at most this many times `import torch`


def wall(cmd: list[str]) -> float:
    """Seconds `cmd` took, from start to exit; it must succeed."""
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("submission", nargs="?", default=str(REPO / "assignments" / "examples" / "correct.py"))
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    torch_cmd = [sys.executable, "-c", "import torch"]
    grade_cmd = [sys.executable, "-m", "attnlab.cli", "grade", args.submission, "--json", "--seed", str(args.seed)]
    for cmd in (grade_cmd, torch_cmd):  # untimed: the file cache, and the self-check's cached verdict
        wall(cmd)
    torch_s, grade_s = [], []
    for _ in range(args.repeat):
        torch_s.append(wall(torch_cmd))
        grade_s.append(wall(grade_cmd))
    base, graded = statistics.median(torch_s), statistics.median(grade_s)
    ratio = graded / base
    t = Table(title=f"cold start: attnlab grade {Path(args.submission).name}, median of {args.repeat}")
    t.add_column('python -c "import torch"', justify="right")
    t.add_column("attnlab grade", justify="right")
    t.add_column("ratio", justify="right")
    t.add_column(f"target <= {TARGET}", justify="center")
    verdict = "[green]met[/]" if ratio <= TARGET else "[red]missed[/]"
    t.add_row(f"{base:.2f} s", f"{graded:.2f} s", f"{ratio:.2f}x", verdict)
    Console().print(t)


if __name__ == "__main__":
    main()
