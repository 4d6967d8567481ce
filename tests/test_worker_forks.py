"""One load per submission: each task runs in a child forked from the loaded submission.

A crash, an ``os._exit`` or a hang in one task costs that task's child, not a reload, and load time is
budgeted per notebook cell (``limits.load_seconds``) with a cap for the whole notebook
(``limits.notebook_load_seconds``), so slow but legitimate cells do not cost the definitions after them.
"""

from __future__ import annotations

import time

import nbformat
import pytest
from conftest import BASE, SUBMISSIONS, build, task_of
from nbformat.v4 import new_code_cell, new_notebook


def _limits(course, **limits):
    return course.model_copy(update={"limits": course.limits.model_copy(update=limits)})


def _notebook(tmp_path, cells: list[str]):
    path = tmp_path / "work.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), str(path))
    return path


@pytest.mark.slow
def test_a_slow_load_then_crashing_tasks_cost_one_load(course, zygote, tmp_path):
    from attnlab.running.grade import grade_paths

    path = build(SUBMISSIONS / "hostile" / "slow_crash.py", tmp_path)
    zygote.ready()
    start = time.monotonic()
    grade_paths([BASE], course=course, seed=11, zygote=zygote)
    baseline = time.monotonic() - start  # what a correct submission costs here, without the slow load
    start = time.monotonic()
    (result,) = grade_paths([path], course=course, seed=11, zygote=zygote)
    took = time.monotonic() - start
    assert result["output"].count("slow_crash loading") == 1, result["output"]  # loaded once, never again
    for tid in ("qk_scores", "softmax_with_temperature", "causal_mask"):
        t = task_of(result, tid)
        assert t["score"] == 0 and "crashed" in t["diagnoses"], t
    assert task_of(result, "plot_attention")["score"] == 10  # the tasks that do not crash are still graded
    # One slow load (1.5 s); each crash costs a fork. A reload per crash would cost 1.5 s each, a dozen times.
    assert took < baseline + 1.5 + 1.5, (took, baseline)


@pytest.mark.slow
def test_a_correct_notebook_with_slow_cells_scores_full(course, zygote, tmp_path):
    """Each cell is within the per-cell limit; all of them together are not within one cell's limit."""
    from attnlab.running.grade import grade_paths

    path = _notebook(tmp_path, ["import time\ntime.sleep(0.6)", "time.sleep(0.6)", "time.sleep(0.6)", BASE.read_text()])
    slow = _limits(course, load_seconds=1.0, notebook_load_seconds=30)
    (result,) = grade_paths([path], course=slow, seed=11, zygote=zygote)
    assert result["total"] == result["max_total"], [(t["id"], t["feedback"]) for t in result["tasks"]]
    assert result["load_errors"] == []


@pytest.mark.slow
def test_a_notebook_past_its_whole_limit_says_so(course, zygote, tmp_path):
    from attnlab.running.grade import grade_paths

    path = _notebook(tmp_path, ["import time\ntime.sleep(0.6)", "time.sleep(0.6)", "time.sleep(0.6)", BASE.read_text()])
    capped = _limits(course, load_seconds=1.0, notebook_load_seconds=1.2)
    (result,) = grade_paths([path], course=capped, seed=11, zygote=zygote)
    t = task_of(result, "qk_scores")
    assert t["score"] == 0 and t["status"] == "timeout", t
    assert "loading your notebook (all its cells together)" in t["feedback"], t["feedback"]


@pytest.mark.slow
def test_a_timeout_in_one_task_keeps_the_submission_loaded(course, zygote, tmp_path):
    """The worker kills the task's child at the limit and stays loaded: the next task needs no reload."""
    from attnlab.running.grade import grade_paths

    text = (
        'print("attnlab-test: loading", flush=True)\n'
        + BASE.read_text()
        + "\n\ndef qk_scores(q, k):\n    while True:\n        pass\n"
    )
    path = tmp_path / "loops.py"
    path.write_text(text)
    (result,) = grade_paths([path], course=course, seed=11, zygote=zygote)
    assert task_of(result, "qk_scores")["status"] == "timeout"
    assert task_of(result, "causal_mask")["score"] == task_of(result, "causal_mask")["max_score"]
    assert result["output"].count("attnlab-test: loading") == 1, result["output"]


class _ScriptedWorker:
    """Stands in for a worker: answers a run request with the frames it is given, in order."""

    def __init__(self, frames):
        self.frames, self.sent = list(frames), []

    def send(self, header, payload=b""):
        self.sent.append(header)

    def recv(self, deadline):
        return self.frames.pop(0), b""

    def kill(self):
        pass

    def output(self):
        return ""


def test_a_child_that_dies_after_its_last_case_costs_nothing(course):
    """Every case answered, then the child dies before it says done: nothing is lost and nothing breaks."""
    from attnlab.judging.cases import make_cases
    from attnlab.running.grade import SubmissionGrader
    from attnlab.running.submission import Submission

    task = next(t for t in course.tasks if t.id == "causal_mask")
    cases = make_cases(task.id, 11, course.dtypes, ["cpu"])

    class NoGPU:
        cuda = False

    grader = SubmissionGrader(Submission(BASE, [BASE.read_text()], notebook=False), course, NoGPU(), 11, "cpu")
    grader.worker = _ScriptedWorker([{"op": "case", "id": c.id, "status": "ok"} for c in cases] + [{"op": "crashed"}])
    replies, tensors = {}, {}
    assert grader._run_cases(task, cases, replies, tensors) is None
    assert sorted(replies) == sorted(c.id for c in cases) and all(r["status"] == "ok" for r in replies.values())
    assert len(grader.worker.sent) == 1  # no second child was asked for: nothing was left to run


#: A qk_scores that imports, in its body, a module whose first import takes 1.5 s (written at load time).
SLOW_IMPORT = """
import pathlib, sys, tempfile
_here = pathlib.Path(tempfile.mkdtemp())
(_here / "attnlab_slow_import.py").write_text("import time\\ntime.sleep(1.5)\\n")
sys.path.insert(0, str(_here))
_right = qk_scores

def qk_scores(q, k):
    {import_line}
    return _right(q, k)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "import_line, ahead",
    [
        ("import attnlab_slow_import", True),
        ("__import__('importlib').import_module('attnlab_slow_' + 'import')", False),
    ],
    ids=["named", "control_hidden_from_the_source"],
)
def test_a_slow_first_import_in_a_function_body_is_not_charged_to_its_task(
    course, zygote, tmp_path, import_line, ahead
):
    """The module is imported while the file loads; the control hides its name from the source, so that it is
    imported by the task itself, and runs out of the task's 1 s."""
    from attnlab.running.grade import grade_paths

    path = tmp_path / "slow_import.py"
    path.write_text(BASE.read_text() + SLOW_IMPORT.format(import_line=import_line))
    short = _limits(course, task_seconds=1.0, load_seconds=6.0)
    (result,) = grade_paths([path], course=short, seed=11, zygote=zygote, task_ids=["qk_scores"])
    t = task_of(result, "qk_scores")
    if ahead:
        assert t["score"] == t["max_score"], t["feedback"]
    else:
        assert t["status"] == "timeout", t


#: A qk_scores that imports, in its body, a module that ends the process, or hangs past every signal, as it is imported.
EXIT_IMPORT = """
import pathlib, sys, tempfile
_here = pathlib.Path(tempfile.mkdtemp())
(_here / "attnlab_exit_import.py").write_text({body!r})
sys.path.insert(0, str(_here))
_right = qk_scores

def qk_scores(q, k):
    import attnlab_exit_import
    return _right(q, k)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "body, diagnosis",
    [
        ("import os\nos._exit(3)\n", "crashed"),
        (
            "import time\nwhile True:\n    try:\n        time.sleep(1)\n    except BaseException:\n        pass\n",
            "timeout",
        ),
    ],
    ids=["exits", "hangs"],
)
def test_an_import_that_ends_or_hangs_the_process_costs_only_the_task_that_imports_it(
    course, zygote, tmp_path, body, diagnosis
):
    """Imported ahead, it ends or hangs the worker while loading: the submission loads again without importing
    ahead, so that only qk_scores, which imports it itself, fails; the other tasks keep their marks."""
    from attnlab.running.grade import grade_paths

    path = tmp_path / "exit_import.py"
    path.write_text(BASE.read_text() + EXIT_IMPORT.format(body=body))
    (result,) = grade_paths([path], course=course, seed=11, zygote=zygote, task_ids=["qk_scores", "causal_mask"])
    qk = task_of(result, "qk_scores")
    assert qk["score"] == 0 and diagnosis in qk["diagnoses"], qk
    mask = task_of(result, "causal_mask")
    assert mask["score"] == mask["max_score"], mask["feedback"]
    assert result["load_errors"] == []
