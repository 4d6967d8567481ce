"""What the describer costs per failed case, on the slips nobody wrote a rule for, next to `import torch`.

    python benchmarks/describe_cost.py [--repeat 20]

Each slip of tests/submissions/unforeseen/ is graded once through the real grader (its task alone, seed 11),
with the judge's call of the describer recorded: the task, and the judged cases it was given. That call is then
timed again in this process, REPEAT times, and divided by the number of failed cases it looked at. The table
shows the median over the slips, the slowest slip, and both next to a fresh `python -c "import torch"` and to
grading the slip's task; the target is a few milliseconds per failed case (issue 22). The knob models count:
in the full install the describer computes them from the reference, as here.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "submissions" / "unforeseen"))
TARGET_MS = 5.0  # per failed case


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=20)
    args = p.parse_args()

    import torch

    torch.set_num_threads(1)  # the zygote forks this process
    import run as unforeseen
    from attnlab.course import load_course
    from attnlab.judging import judge
    from attnlab.running.grade import grade_paths
    from attnlab.running.processes import Zygote

    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    import_torch = time.perf_counter() - t0

    calls: list[tuple[str, list]] = []
    describe = judge.describe

    def recording(task_id, results):
        calls.append((task_id, results))
        return describe(task_id, results)

    judge.describe = recording
    course = load_course(REPO / "course.yml")
    zygote = Zygote()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for slip in unforeseen.slips():
                calls.clear()
                t0 = time.perf_counter()
                unforeseen.grade(slip, lambda *a, **k: grade_paths(*a, course=course, zygote=zygote, **k), Path(tmp))
                graded = time.perf_counter() - t0
                if not calls:
                    continue  # a rule named it first: the describer did not run
                task_id, results = calls[-1]
                failed = sum(1 for r in results if not r.passed and r.case.kind in ("call", "module")) or 1
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    describe(task_id, results)
                    times.append(time.perf_counter() - t0)
                per_case = statistics.median(times) / failed
                rows.append((slip.name, failed, per_case, graded))
    finally:
        judge.describe = describe
        zygote.close()

    per_case = [r[2] for r in rows]
    median, worst = statistics.median(per_case), max(rows, key=lambda r: r[2])
    t = Table(title=f"the describer on {len(rows)} slips, median of {args.repeat} runs each")
    t.add_column('python -c "import torch"', justify="right")
    t.add_column("describer per failed case: median", justify="right")
    t.add_column("slowest slip", justify="right")
    t.add_column("ratio to import torch", justify="right")
    t.add_column("share of grading the task", justify="right")
    t.add_column(f"target <= {TARGET_MS:g} ms", justify="center")
    share = statistics.median(r[2] * r[1] / r[3] for r in rows)
    verdict = "[green]met[/]" if worst[2] * 1000 <= TARGET_MS else "[red]missed[/]"
    t.add_row(
        f"{import_torch:.2f} s",
        f"{median * 1000:.2f} ms",
        f"{worst[0]}: {worst[2] * 1000:.2f} ms",
        f"{median / import_torch:.4f}x",
        f"{share * 100:.1f} %",
        verdict,
    )
    Console(width=160).print(t)


if __name__ == "__main__":
    main()
