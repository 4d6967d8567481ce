"""Basic hostility gains nothing, and the run always completes.

Each hostile file is an override on the correct base submission (see conftest.build). The grader runs
it in its child process with short limits (ATTNLAB_TEST_TASK_SECONDS, default 3 s per task).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from conftest import SUBMISSIONS, TASK_SECONDS, build, task_of

HOSTILE = SUBMISSIONS / "hostile"


def test_patched_comparison_helpers_gain_nothing(grade, tmp_path):
    result = grade(build(HOSTILE / "patch_allclose.py", tmp_path))
    qk = task_of(result, "qk_scores")
    assert qk["score"] < qk["max_score"] and "missing_scale" in qk["diagnoses"]


def test_lying_tensor_subclass_gains_nothing(grade, tmp_path):
    result = grade(build(HOSTILE / "lying_subclass.py", tmp_path))
    qk = task_of(result, "qk_scores")
    assert qk["score"] == 0.0 or qk["status"] in ("failed", "forbidden"), qk


def test_exit_at_import_is_graded_as_nothing(grade, tmp_path):
    result = grade(build(HOSTILE / "exit_at_import.py", tmp_path))
    assert result["total"] == 0.0
    assert all(t["status"] == "missing" for t in result["tasks"])
    assert "SystemExit" in task_of(result, "qk_scores")["feedback"]


def test_os_exit_in_one_task_costs_only_that_task(grade, tmp_path):
    result = grade(build(HOSTILE / "os_exit_in_task.py", tmp_path))
    qk = task_of(result, "qk_scores")
    assert qk["score"] == 0.0 and "crashed" in qk["diagnoses"] or qk["status"] == "error", qk
    for tid in ("softmax_with_temperature", "causal_mask", "plot_attention"):
        t = task_of(result, tid)
        assert t["score"] == t["max_score"], t
    # attention calls qk_scores, so it could not be checked; the hint says whose fault that is.
    assert "blocked_by_callee" in task_of(result, "attention")["diagnoses"]
    # A crash costs only its case: the worker is restarted for the cases after it.
    assert sum(c["status"] == "crashed" for c in qk["cases"]) >= 2


def test_endless_loop_ignoring_signals_costs_only_that_task(grade, tmp_path):
    start = time.monotonic()
    result = grade(build(HOSTILE / "endless_loop.py", tmp_path))
    elapsed = time.monotonic() - start
    sm = task_of(result, "softmax_with_temperature")
    assert sm["status"] == "timeout" and sm["score"] == 0.0
    for tid in ("qk_scores", "causal_mask", "plot_attention"):
        t = task_of(result, tid)
        assert t["score"] == t["max_score"], t
    # softmax, attention and multi_head_attention may each use up one task limit, no more.
    assert elapsed < 3 * TASK_SECONDS + 30


def test_fake_result_lines_mean_nothing(tmp_path, course):
    path = build(HOSTILE / "fake_results.py", tmp_path)
    out = subprocess.run([sys.executable, "-m", "attnlab.cli", "grade", str(path), "--json", "--seed", "5",
                          "--tasks", "qk_scores,causal_mask"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["total"] < result["max_total"]
    assert task_of(result, "qk_scores")["score"] < 15.0
    assert '"total": 100.0' in result["output"]  # what the student printed is kept, as data


def test_no_worker_is_left_behind(grade, tmp_path):
    grade(build(HOSTILE / "endless_loop.py", tmp_path), tasks=["softmax_with_temperature"])
    time.sleep(0.5)
    ps = subprocess.run(["ps", "-eo", "stat,args"], capture_output=True, text=True).stdout
    spinning = [ln for ln in ps.splitlines() if "runner.py" in ln and not ln.startswith("Z")]
    # Only the session's zygote (and none of its workers) may still be running.
    assert len(spinning) <= 1, spinning


def test_memory_bomb_costs_only_that_task(grade, tmp_path):
    result = grade(build(HOSTILE / "memory_bomb.py", tmp_path), tasks=["qk_scores", "causal_mask"])
    qk = task_of(result, "qk_scores")
    assert qk["score"] == 0.0 and qk["status"] in ("error", "failed"), qk
    assert "MemoryError" in qk["feedback"] or "crashed" in qk["diagnoses"], qk
    mask = task_of(result, "causal_mask")
    assert mask["score"] == mask["max_score"]


def test_output_flood_is_capped(grade, tmp_path, course):
    result = grade(build(HOSTILE / "output_flood.py", tmp_path), tasks=["qk_scores", "causal_mask"])
    assert all(t["score"] == t["max_score"] for t in result["tasks"]), result["tasks"]
    # The parent kept at most output_kb of each stream, and the JSON shows the start and says what it cut.
    from attnlab.grade import OUTPUT_CHARS

    assert len(result["output"]) < OUTPUT_CHARS + 100
    assert "x" * 200 in result["output"] and "more characters not shown" in result["output"]
