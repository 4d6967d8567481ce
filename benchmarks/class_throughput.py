"""A class of 60 submissions graded by `attnlab grade DIR --jobs N`, next to `python -c "import torch"`, in one run.

    python benchmarks/class_throughput.py [--jobs 2] [--task-seconds 2] [--repeat 3]

The class: correct work and valid variants, the typical mistakes (tests/submissions/mistakes over base.py),
and three hostile submissions (an endless loop, a memory bomb, os._exit in a task). Each run grades it from
cold as a fresh process; the table shows the wall time, the amortized seconds per submission and their
ratio to `import torch` (median of --repeat, the commands alternating), with --jobs 1 beside --jobs N.
Targets (issue 13): at most 0.12x `import torch` per submission with --jobs 2.

Memory: while the --jobs N run grades, the process tree (the CLI, its zygote and the workers) is sampled
every 0.1 s with psutil; the table gives the peak of the tree's proportional set size (PSS: shared pages
split between the processes that share them, so a forked worker is charged only for what it changed) and
the largest single worker.

Hostile submissions run into the course's time limits; --task-seconds sets them for this run (the bundled
course.yml gives 10 s a task, which an endless loop uses whole, on one core).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
SUBS = REPO / "tests" / "submissions"
HOSTILE = ["endless_loop.py", "memory_bomb.py", "os_exit_in_task.py"]
CLASS_SIZE = 60


def make_class(root: Path, task_seconds: float) -> tuple[Path, Path]:
    """root/submitted/<student>/week1/answers.py for CLASS_SIZE students, and a course.yml with short limits."""
    base = (SUBS / "base.py").read_text()

    def over(path: Path) -> str:
        text = path.read_text()
        return text + "\n\n" + base if "# position: start" in text else base + "\n\n" + text

    correct = [(REPO / "assignments" / "examples" / "correct.py").read_text(), base]
    correct += [over(p) for p in sorted((SUBS / "variants").glob("*.py"))]
    mistakes = [over(p) for p in sorted((SUBS / "mistakes").glob("*.py")) if p.name != "timeout.py"]
    hostile = [over(SUBS / "hostile" / h) for h in HOSTILE]
    n_mistakes = CLASS_SIZE // 2 - len(hostile)
    texts = hostile + [mistakes[i % len(mistakes)] for i in range(n_mistakes)]
    texts += [correct[i % len(correct)] for i in range(CLASS_SIZE - len(texts))]
    texts = [texts[(i * 7) % CLASS_SIZE] for i in range(CLASS_SIZE)]  # mixed, the hostile ones apart
    for i, text in enumerate(texts):
        dest = root / "submitted" / f"student{i:02d}" / "week1" / "answers.py"
        dest.parent.mkdir(parents=True)
        dest.write_text(text)
    data = yaml.safe_load((REPO / "course.yml").read_text())
    data["limits"].update(task_seconds=task_seconds, load_seconds=task_seconds * 2)
    course = root / "course.yml"
    course.write_text(yaml.safe_dump(data))
    return root / "submitted", course


class TreeMemory:
    """Samples the PSS of a process and all its descendants, keeping the peaks."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.peak_total = self.peak_one = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return
            sizes = {}
            for p in procs:
                try:
                    sizes[p.pid] = p.memory_full_info().pss
                except psutil.Error:
                    pass
            self.peak_total = max(self.peak_total, sum(sizes.values()))
            workers = [s for pid, s in sizes.items() if pid not in (self.root.pid,)]
            self.peak_one = max([self.peak_one, *workers[1:]])  # the first child is the zygote
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def wall(cmd: list[str], memory: bool = False) -> tuple[float, TreeMemory | None]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sampler = TreeMemory(proc.pid) if memory else None
    if proc.wait() != 0:
        raise SystemExit(f"{' '.join(cmd)} failed")
    if sampler:
        sampler.stop()
    return time.perf_counter() - t0, sampler


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--task-seconds", type=float, default=2.0)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="attnlab-bench-class-", dir=os.environ.get("BENCH_TMP", "/var/tmp")))
    try:
        folder, course = make_class(root, args.task_seconds)
        grade = [sys.executable, "-m", "attnlab.cli", "grade", str(folder), "--course", str(course), "--seed", "1"]
        commands = {
            "import torch": [sys.executable, "-c", "import torch"],
            "grade, --jobs 1": [*grade, "--json", "--jobs", "1"],
            f"grade, --jobs {args.jobs}": [*grade, "--json", "--jobs", str(args.jobs)],
        }
        wall(commands["grade, --jobs 1"])  # warm the file cache and the self-check's cache
        times = {name: [] for name in commands}
        peaks = []
        for _ in range(args.repeat):
            for name, cmd in commands.items():
                seconds, sampler = wall(cmd, memory=name.endswith(f"--jobs {args.jobs}"))
                times[name].append(seconds)
                if sampler:
                    peaks.append((sampler.peak_total, sampler.peak_one))
        report(times, peaks, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report(times: dict, peaks: list, args) -> None:
    base = statistics.median(times["import torch"])
    title = f"{CLASS_SIZE} submissions (3 hostile), task limit {args.task_seconds:g} s, median of {args.repeat}"
    t = Table(title=title)
    for col in ("command", "wall s", "s per submission", "per submission / import torch"):
        t.add_column(col, justify="left" if col == "command" else "right")
    for name, ts in times.items():
        m = statistics.median(ts)
        if name == "import torch":
            t.add_row(name, f"{m:.2f}", "", "1.00x (the unit)")
        else:
            t.add_row(name, f"{m:.2f}", f"{m / CLASS_SIZE:.3f}", f"{m / CLASS_SIZE / base:.3f}x")
    console = Console()
    console.print(t)
    total, one = max(p[0] for p in peaks), max(p[1] for p in peaks)
    console.print(
        f"memory, --jobs {args.jobs}: peak PSS of the whole tree {total / 2**20:.0f} MiB; "
        f"largest single worker {one / 2**20:.0f} MiB; cores here: {os.cpu_count()}"
    )


if __name__ == "__main__":
    main()
