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
from attnlab.judging.scan import scan_source
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
# Lessons 2-5 open with a cell (this id) that reads the student's functions from their earlier lessons' notebooks.
EARLIER = "earlier-lessons"
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


def released_course(folder: Path) -> Path:
    """Every lesson as a student fetches it, each in its own folder side by side, none of them done yet."""
    for lesson in LESSONS:
        (folder / lesson).mkdir(parents=True)
        nbformat.write(release(notebook(lesson)), str(folder / lesson / f"{lesson}.ipynb"))
    return folder


def run_until_stopped(folder: Path, lesson: str):
    """Run All of `lesson` in `folder`: the notebook as run, and the error that stopped it."""
    nb = nbformat.read(str(folder / lesson / f"{lesson}.ipynb"), as_version=4)
    client = lesson_client(nb, lesson)
    client.resources = {"metadata": {"path": str(folder / lesson)}}
    with pytest.raises(CellExecutionError) as err:
        client.execute(env=KERNEL_ENV)
    return nb, err.value


@pytest.mark.slow
def test_with_no_earlier_lesson_done_a_lesson_runs_to_its_own_first_stub(tmp_path):
    """Lesson 3 before lessons 1 and 2 are done: no NotImplementedError of theirs, one line for each, and Run
    All reaches lesson 3's own first stub."""
    nb, stopped = run_until_stopped(released_course(tmp_path), "lesson3_masking")
    assert stopped.ename == "NotImplementedError"
    first_stub = nb.cells.index(solution_cells(nb)[0])
    failed = [i for i, c in enumerate(nb.cells) if any(o.output_type == "error" for o in c.get("outputs", []))]
    assert failed == [first_stub]
    said = outputs_text(next(c for c in nb.cells if c.get("id") == EARLIER))
    assert said.splitlines() == [
        f"{name}: it does not pass its check yet (0/{points:g}). This lesson goes on; a cell that calls {name} will "
        "say so."
        for name, points in [("qk_scores", 15), ("softmax_with_temperature", 20)]
    ]


@pytest.mark.slow
def test_a_cell_that_needs_an_unfinished_earlier_function_says_which_and_where(tmp_path):
    nb, stopped = run_until_stopped(released_course(tmp_path), "lesson2_softmax")
    assert stopped.ename == "EarlierLessonMissing"
    assert "finish lesson 1's qk_scores first (lesson1_qk_scores/lesson1_qk_scores.ipynb)" in stopped.evalue
    assert "NotImplementedError" not in "".join(outputs_text(c) for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("lesson", LESSONS)
def test_cells_follow_the_conventions(lesson):
    nb = notebook(lesson)
    assert nb.metadata.kernelspec.name == "python3" and nb.metadata.kernelspec.language == "python"
    ids = [c.id for c in nb.cells]
    assert len(ids) == len(set(ids)), "cell ids must be unique"

    from nbgrader.nbgraderformat import MetadataValidator

    MetadataValidator().validate_nb(nb)  # what nbgrader itself checks: grade ids, points, duplicates

    stubs = solution_cells(nb)
    assert [nbgrader(c)["grade_id"] for c in stubs] == [f"{t}_solution" for t in LESSONS[lesson]]

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


@pytest.mark.parametrize("lesson", list(LESSONS)[1:])
def test_a_later_lesson_reads_every_earlier_function_it_uses_and_asks_for_no_paste(lesson):
    """One `name = earlier("name")` line per function of an earlier lesson, in course order, in a plain cell that
    nbgrader leaves as it is: nothing to paste, and no solution of an earlier lesson in this one."""
    from attnlab.tasks import TASKS

    order = list(LESSONS)
    nb = notebook(lesson)
    (cell,) = [c for c in nb.cells if c.get("id") == EARLIER]
    assert nbgrader(cell) == {} and "BEGIN SOLUTION" not in cell.source
    reads = [
        node.targets[0].id
        for node in ast.parse(cell.source).body
        if isinstance(node, ast.Assign) and getattr(node.value.func, "id", None) == "earlier"
    ]
    assert reads == [function(t) for earlier in order[: order.index(lesson)] for t in LESSONS[earlier]], reads
    for name in reads:  # each is the stub of its lesson, where earlier() looks for it
        task = next(t for t in TASKS.values() if t.function == name)
        assert task.lesson in LESSONS and task.id in LESSONS[task.lesson], (name, task.lesson)


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
