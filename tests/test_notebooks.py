"""The four lesson notebooks, as nbgrader source and as the release students get.

- The source (with the solutions) runs top to bottom without an error, and every `check(...)` says PASS.
- The release is made here with nbgrader's own `ClearSolutions`, as `nbgrader generate_assignment`
  makes it. It contains no solution, and running it stops with `NotImplementedError` at the first
  solution cell, with no other error before it: that is where a student starts.
- The structure agrees with course.yml: one grade cell per task, its grade_id the task id and its
  points the course's points; every stub is `<task_id>_solution` and is followed by its check cell.
"""

from __future__ import annotations

import ast
import copy
import os
from pathlib import Path

import nbformat
import pytest
from attnlab.course import load_course
from attnlab.grading.forbidden import scan_source
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "assignments" / "source"
COURSE = load_course(REPO / "course.yml")

# Which tasks each lesson teaches, in the order their stubs appear.
LESSONS = {
    "lesson1_qk_scores": ["qk_scores"],
    "lesson2_softmax": ["softmax_with_temperature"],
    "lesson3_masking": ["causal_mask", "attention", "plot_attention"],
    "lesson4_multi_head": ["multi_head_attention"],
    "lesson5_order_and_memory": ["positional_encoding", "kv_cache_attention"],
}
# Lessons 2-4 open with one solution cell where students paste their functions from earlier lessons.
EARLIER = "earlier_lessons"
GRADE_COMMENT = "# attnlab: the score of this cell comes from the trusted grader, which runs outside this kernel."


def notebook(lesson: str):
    return nbformat.read(SOURCE / lesson / f"{lesson}.ipynb", as_version=4)


def function(task_id: str) -> str:
    return COURSE.task(task_id).function


def nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def solution_cells(nb) -> list:
    return [c for c in nb.cells if nbgrader(c).get("solution")]


#: The lesson kernel's environment: headless matplotlib.
KERNEL_ENV = {**os.environ, "MPLBACKEND": "Agg"}


def lesson_client(nb, lesson: str) -> NotebookClient:
    """A client that runs `nb` like `Run All`, from the lesson's folder, stopping at the first error."""
    return NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(SOURCE / lesson)}},
        shutdown_kernel="immediate",  # once every cell has run; a kernel with torch loaded takes seconds to exit
    )


def execute(nb, lesson: str) -> None:
    """Run every cell like `Run All`, headless, from the lesson's folder; raises at the first error."""
    lesson_client(nb, lesson).execute(env=KERNEL_ENV)


def release(nb):
    """The student version, made by nbgrader's own preprocessor with its default configuration."""
    from nbgrader.preprocessors import ClearSolutions
    from traitlets.config import Config

    released, _ = ClearSolutions(config=Config()).preprocess(copy.deepcopy(nb), resources={})
    return released


def outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(str(out.get("data", {}).get("text/plain", "")))
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
    return "".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_source_runs_and_every_check_passes(lesson):
    nb = notebook(lesson)
    execute(nb, lesson)
    printed = "\n".join(outputs_text(c) for c in nb.cells if c.cell_type == "code")
    assert "FAIL" not in printed, printed
    for task in LESSONS[lesson]:
        assert f"PASS {task}:" in printed, f"{lesson}: no PASS for {task}"


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_release_stops_at_the_first_stub(lesson):
    nb = release(notebook(lesson))
    text = nbformat.writes(nb)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    first_stub = nb.cells.index(solution_cells(nb)[0])

    with pytest.raises(CellExecutionError) as err:
        execute(nb, lesson)
    assert err.value.ename == "NotImplementedError", str(err.value)
    failed = [i for i, c in enumerate(nb.cells) if any(o.output_type == "error" for o in c.get("outputs", []))]
    assert failed == [first_stub], f"{lesson}: errors in cells {failed}, expected only the first stub ({first_stub})"
    ran = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("execution_count")]
    assert ran and max(ran) == first_stub, "Run All went past the first stub"


@pytest.mark.parametrize("lesson", LESSONS)
def test_cells_follow_the_conventions(lesson):
    nb = notebook(lesson)
    assert nb.metadata.kernelspec.name == "python3" and nb.metadata.kernelspec.language == "python"
    ids = [c.id for c in nb.cells]
    assert len(ids) == len(set(ids)), "cell ids must be unique"

    from nbgrader.nbgraderformat import MetadataValidator

    MetadataValidator().validate_nb(nb)  # what nbgrader itself checks: grade ids, points, duplicates

    stubs = solution_cells(nb)
    expected = [f"{t}_solution" for t in LESSONS[lesson]]
    if lesson != "lesson1_qk_scores":
        expected = [EARLIER, *expected]
    assert [nbgrader(c)["grade_id"] for c in stubs] == expected

    for task in LESSONS[lesson]:
        stub = next(c for c in stubs if nbgrader(c)["grade_id"] == f"{task}_solution")
        defined = {n.name for n in ast.parse(stub.source).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert function(task) in defined, f"{task}: the stub does not define {function(task)}"
        after = nb.cells[nb.cells.index(stub) + 1]
        assert nbgrader(after) == {
            "grade": False,
            "solution": False,
            "locked": True,
            "grade_id": f"{task}_check",
            "schema_version": 3,
        }
        assert after.source.strip().endswith(f"check({function(task)})")

    for cell in nb.cells:
        assert "attnlab.reference" not in cell.source
    # The solutions themselves obey the course's forbidden list (no softmax, no fused attention).
    findings = scan_source([c.source for c in stubs], COURSE.forbidden_default)
    for task in LESSONS[lesson]:
        assert not findings.get(function(task)), findings


def test_grade_cells_match_course_yml():
    graded = []
    for lesson, tasks in LESSONS.items():
        for cell in notebook(lesson).cells:
            meta = nbgrader(cell)
            if not meta.get("grade"):
                continue
            task = meta["grade_id"]
            assert task in tasks, f"{lesson}: grade cell {task!r} is not one of this lesson's tasks {tasks}"
            assert meta == {
                "grade": True,
                "solution": False,
                "locked": True,
                "points": COURSE.task(task).points,
                "grade_id": task,
                "schema_version": 3,
            }
            assert cell.source == f"{GRADE_COMMENT}\ncheck({function(task)})"
            graded.append(task)
    assert sorted(graded) == sorted(t.id for t in COURSE.tasks), "every task is graded exactly once"
