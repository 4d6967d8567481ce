"""The one loader: what a notebook contributes to grading, and what the worker's copy of it holds."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from attnlab.running.processes import _private_copy
from attnlab.running.submission import Submission, Unreadable, load_submission, read_submission
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

HIDDEN = "hidden-3f9c"


def _nbgrader(grade_id: str, *, grade: bool, solution: bool) -> dict:
    meta = {"grade": grade, "solution": solution, "locked": not solution, "grade_id": grade_id, "schema_version": 3}
    if grade:
        meta["points"] = 5
    return {"nbgrader": meta}


def autograded_notebook():
    """As nbgrader's autograde hands it over: hidden tests restored into the test cell, outputs from a kernel."""
    return new_notebook(
        cells=[
            new_markdown_cell("# Lesson"),
            new_code_cell(
                "def f(x):\n    return x",
                metadata=_nbgrader("f_solution", grade=False, solution=True),
                outputs=[new_output("stream", name="stdout", text=f"printed {HIDDEN}")],
            ),
            new_code_cell(
                f"check(f)\n### BEGIN HIDDEN TESTS\nassert f(1) == 1, {HIDDEN!r}\n### END HIDDEN TESTS",
                metadata=_nbgrader("f", grade=True, solution=False),
            ),
            new_code_cell("answer = 42", metadata=_nbgrader("essay", grade=True, solution=True)),
            new_code_cell("%matplotlib inline\ny = 2"),
        ]
    )


def write(tmp_path: Path, nb, name: str = "lesson.ipynb") -> Path:
    path = tmp_path / name
    nbformat.write(nb, str(path))
    return path


def test_a_test_cell_contributes_no_code_and_keeps_its_place(tmp_path):
    sub = load_submission(write(tmp_path, autograded_notebook()))
    assert sub.cells == ["def f(x):\n    return x", "", "answer = 42", "pass\ny = 2"]
    assert HIDDEN not in "".join(sub.cells)


def test_the_workers_copy_has_no_test_cell_source_and_no_outputs(tmp_path):
    sub = load_submission(write(tmp_path, autograded_notebook()))
    name, data = _private_copy(sub)
    assert name == "lesson.ipynb"
    assert HIDDEN.encode() not in data and b"HIDDEN TESTS" not in data
    shown = nbformat.reads(data.decode(), as_version=4)
    assert [c.source for c in shown.cells] == [
        "# Lesson",
        "def f(x):\n    return x",
        "",
        "answer = 42",
        "%matplotlib inline\ny = 2",
    ]
    assert all(c.outputs == [] and c.execution_count is None for c in shown.cells if c.cell_type == "code")


def test_a_notebook_submission_made_by_hand_is_shown_as_its_cells(tmp_path):
    sub = Submission(tmp_path / "made.ipynb", ["x = 1", ""], notebook=True)
    _, data = _private_copy(sub)
    assert [c["source"] for c in json.loads(data)["cells"]] == ["x = 1", ""]


def test_a_hand_edited_nbformat_minor_is_still_read(tmp_path):
    path = write(tmp_path, autograded_notebook())
    data = json.loads(path.read_text())
    data["nbformat_minor"] = "4.5"
    path.write_text(json.dumps(data))
    assert load_submission(path).cells[0] == "def f(x):\n    return x"


def test_an_unreadable_path_is_reported_in_one_line(tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not json")
    got = read_submission(broken)
    assert isinstance(got, Unreadable) and got.path == broken
    assert "not valid notebook JSON" in got.reason and "\n" not in got.reason
    assert isinstance(read_submission(tmp_path / "nowhere.py"), Unreadable)
