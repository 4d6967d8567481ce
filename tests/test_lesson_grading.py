"""A lesson's notebook is graded on that lesson's work alone: its earlier functions come from earlier(), which in
the grader's worker gives stand-ins (never the answer, never another notebook), and the parent replays the
reference through what they returned.

Each submission here is a lesson as a student hands it in: the earlier lessons' functions read with
``earlier(...)``, the lesson's own written out (tests/submissions/base.py's), graded on the lesson's tasks alone
through the real worker. Right work scores full marks whatever the earlier lessons hold; a slip of the lesson's
own still costs points.
"""

from __future__ import annotations

import ast

import pytest
from conftest import BASE, task_of

pytestmark = pytest.mark.slow

#: lesson -> (its tasks, the earlier functions it reads with earlier()).
LESSONS = {
    "lesson3_masking": (["causal_mask", "attention", "plot_attention"], ["qk_scores", "softmax_with_temperature"]),
    "lesson4_multi_head": (
        ["multi_head_attention"],
        ["qk_scores", "softmax_with_temperature", "causal_mask", "attention"],
    ),
    "lesson5_order_and_memory": (
        ["positional_encoding", "kv_cache_attention"],
        ["qk_scores", "softmax_with_temperature", "causal_mask", "attention", "MultiHeadAttention"],
    ),
}


def lesson_submission(tmp_path, lesson: str, edit=None):
    """base.py with the earlier lessons' functions read by earlier() instead of written out; `edit(source)`
    then changes the lesson's own code."""
    source = BASE.read_text()
    tree = ast.parse(source)
    earlier = LESSONS[lesson][1]
    kept = [n for n in tree.body if not (isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in earlier)]
    reads = "".join(f'{name} = earlier("{name}")\n' for name in earlier)
    code = "from attnlab import earlier\n" + reads + ast.unparse(ast.Module(body=kept, type_ignores=[]))
    path = tmp_path / f"{lesson}.py"
    path.write_text(edit(code) if edit else code)
    return path


@pytest.mark.parametrize("lesson", LESSONS)
def test_a_lesson_done_right_scores_full_marks_with_its_earlier_functions_read_by_earlier(grade, tmp_path, lesson):
    tasks = LESSONS[lesson][0]
    result = grade(lesson_submission(tmp_path, lesson), tasks=tasks)
    assert [t["id"] for t in result["tasks"]] == tasks
    for task in result["tasks"]:
        assert task["score"] == task["max_score"], (task["id"], task["feedback"])
        assert "callee_failed" not in task["diagnoses"]
    assert result["load_errors"] == []


def test_a_slip_of_the_lessons_own_still_costs_points_and_is_named(grade, tmp_path):
    def mask_after_softmax(code: str) -> str:
        hide = "scores = scores.masked_fill(mask.logical_not(), float('-inf'))"
        late = "out = torch.matmul(weights, v)"
        assert hide in code and late in code
        too_late = "weights = weights if mask is None else weights.masked_fill(mask.logical_not(), 0.0)\n    " + late
        return code.replace(hide, "pass").replace(late, too_late)

    path = lesson_submission(tmp_path, "lesson3_masking", mask_after_softmax)
    attention = task_of(grade(path, tasks=["attention"]), "attention")
    assert attention["score"] < attention["max_score"], attention["feedback"]
    # named, though its callees were the grader's stand-ins: the model is rebuilt through the same replay
    assert attention["diagnoses"] == ["mask_after_softmax"], attention["feedback"]


@pytest.mark.parametrize(
    "lesson, task, name",
    [
        ("lesson3_masking", "attention", "attention"),
        ("lesson4_multi_head", "multi_head_attention", "MultiHeadAttention"),
    ],
)
def test_a_stand_in_is_never_the_answer_to_the_lessons_own_task(grade, tmp_path, lesson, task, name):
    """A student who asks earlier() for the very function the lesson grades gets the grader's stand-in: no points."""
    path = lesson_submission(tmp_path, lesson, lambda code: code + f'\n{name} = earlier("{name}")\n')
    graded = task_of(grade(path, tasks=[task]), task)
    assert graded["score"] == 0.0, graded["feedback"]


def test_attnlab_check_grades_a_lesson_with_the_students_own_earlier_lessons_and_attnlab_grade_never(tmp_path):
    """A self-learner's `attnlab check lesson3.ipynb` runs the lesson as their kernel does: earlier() is their own
    lesson 1 and 2 (the lessons' sources stand in for a student's finished notebooks here). `attnlab grade`, the
    trusted grader, grades the submitted notebook alone: there qk_scores is the grader's stand-in."""
    import json
    import shutil
    import subprocess
    import sys

    from conftest import REPO

    for lesson in ("lesson1_qk_scores", "lesson2_softmax", "lesson3_masking"):
        shutil.copytree(REPO / "assignments" / "source" / lesson, tmp_path / lesson)
    notebook = tmp_path / "lesson3_masking" / "lesson3_masking.ipynb"

    def graded(command: str) -> dict:
        args = [sys.executable, "-m", "attnlab.cli", command, "--json", "--tasks", "qk_scores,attention", str(notebook)]
        if command == "grade":
            args += ["--seed", "3"]
        out = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert out.returncode in (0, 1), out.stderr[-2000:]
        return {t["id"]: t for t in json.loads(out.stdout.splitlines()[-1])["tasks"]}

    checked = graded("check")
    assert all(t["score"] == t["max_score"] for t in checked.values()), checked  # lesson 1's own qk_scores
    trusted = graded("grade")
    assert trusted["attention"]["score"] == trusted["attention"]["max_score"]  # replayed through the stand-in
    assert trusted["qk_scores"]["score"] == 0.0  # the stand-in, which is never the answer
