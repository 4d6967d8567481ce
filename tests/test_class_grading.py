"""A class graded by `attnlab grade DIR --jobs 2 --results r.jsonl`: killed with `kill -9` midway and started
again, it ends with every submission graded exactly once, and the same grades as one submission at a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SUBMISSIONS, TASK_SECONDS, build

EXAMPLES = REPO / "assignments" / "examples"
MISTAKES = ["missing_scale.py", "mask_inverted.py", "exception.py", "timeout.py"]
HOSTILE = ["endless_loop.py", "os_exit_in_task.py", "memory_bomb.py"]
SEED = "7"
TASKS = "qk_scores,softmax_with_temperature,causal_mask,attention,multi_head_attention"


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """submitted/<student>/week1/<file>.py for twelve students, and a course.yml with short limits."""
    root = tmp_path_factory.mktemp("class")
    scratch = tmp_path_factory.mktemp("built")
    files = [*sorted(EXAMPLES.glob("*.py"))]
    files += [build(SUBMISSIONS / "mistakes" / m, scratch) for m in MISTAKES]
    files += [build(SUBMISSIONS / "hostile" / h, scratch) for h in HOSTILE]
    files.append(SUBMISSIONS / "base.py")
    for i, f in enumerate(files):
        dest = root / "submitted" / f"student{i:02d}" / "week1" / "answers.py"
        dest.parent.mkdir(parents=True)
        dest.write_text(f.read_text())
    data = yaml.safe_load((REPO / "course.yml").read_text())
    data["limits"].update(task_seconds=TASK_SECONDS, load_seconds=TASK_SECONDS * 2)
    course = root / "course.yml"
    course.write_text(yaml.safe_dump(data))
    return root, course, len(files)


def grade(root: Path, course: Path, *extra, env=None) -> list[str]:
    return [
        sys.executable,
        "-m",
        "attnlab.cli",
        "grade",
        str(root / "submitted"),
        "--course",
        str(course),
        "--seed",
        SEED,
        "--tasks",
        TASKS,
        "--json",
        *map(str, extra),
    ]


def lines(path: Path) -> list[dict]:
    """The file's whole lines: one the run is writing at this moment has no newline yet."""
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def grades(result: dict) -> dict:
    """What must not depend on how the class was run: each task's score, status and diagnoses."""
    return {t["id"]: (t["score"], t["status"], t["diagnoses"]) for t in result["tasks"]}


@pytest.mark.slow
def test_killed_midway_and_run_again_every_submission_is_graded_once_as_in_a_serial_run(klass, tmp_path):
    root, course, n = klass
    results = tmp_path / "r.jsonl"
    first = subprocess.Popen(
        grade(root, course, "--jobs", 2, "--results", results),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while len(lines(results)) < 3 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, f"the run ended before it could be killed: {first.stderr.read().decode()[-2000:]}"
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    done_before = len(lines(results))
    assert 3 <= done_before < n
    with results.open("ab") as f:  # and as if the kill had come in the middle of a line
        f.write(b'{"schema":"attnlab.results/1","key":"torn","result":{"status":"gra')

    env = {**os.environ, "FORCE_COLOR": "1"}  # rich draws its progress bar as on a terminal
    again = subprocess.run(
        grade(root, course, "--jobs", 2, "--results", results), capture_output=True, text=True, env=env, timeout=300
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "cut off" in again.stderr
    assert "ETA" in again.stderr  # the progress bar: done/total, rate and time left
    out = [json.loads(line) for line in again.stdout.splitlines()]
    paths = sorted(str(p) for p in (root / "submitted").glob("*/week1/answers.py"))
    assert [r["submission"] for r in out] == paths  # one line per submission, in input order
    assert [r["student"] for r in out] == [f"student{i:02d}" for i in range(n)]

    stored = lines(results)
    assert len(stored) == n, "every submission has exactly one line"
    assert sorted(r["path"] for r in stored) == paths
    assert len({r["key"] for r in stored}) == n

    serial = subprocess.run(grade(root, course, "--jobs", 1), capture_output=True, text=True, timeout=300)
    assert serial.returncode == 0, serial.stderr[-3000:]
    expected = {r["submission"]: grades(r) for r in map(json.loads, serial.stdout.splitlines())}
    assert {r["submission"]: grades(r) for r in out} == expected
    assert {r["path"]: grades(r["result"]) for r in stored} == expected
    assert expected[paths[0]] != expected[paths[1]]  # the class is not all alike

    rerun = subprocess.run(
        grade(root, course, "--jobs", 2, "--results", results), capture_output=True, text=True, timeout=120
    )
    assert rerun.returncode == 0
    assert len(lines(results)) == n  # nothing graded twice
    assert [json.loads(line)["submission"] for line in rerun.stdout.splitlines()] == paths
