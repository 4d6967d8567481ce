"""A class in an nbgrader course root, built in seconds: for `attnlab autograde`'s tests and benchmark.

    root = build_class(tmp / "course", CLASS, env=env)   # CLASS: student -> {lesson: work}
    # root/submitted/<student>/<lesson>/<lesson>.ipynb, as `nbgrader collect` leaves them

What tests/test_nbgrader.py does for the whole cycle, minus the exchange: course.yml with short limits,
the nbgrader_config.py that `attnlab nbgrader-config` writes, `nbgrader generate_assignment` (nbgrader's app,
in one child process), and each student's notebook made from the release with the solutions filled in
and written straight where `nbgrader collect` would put it, with the exchange's ``timestamp.txt``. Nothing
here grades.

A student's work in a lesson is one of `WORK`: right, or one typical mistake (no ``/ sqrt(d)``, a softmax
that ignores the temperature, the mask applied after the softmax), or a locked cell edited (nbgrader's
sanitizing puts it back), or a file that is not JSON.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import yaml
from attnlab.course import load_course
from attnlab.nbgrader import nbgrader_config
from nbformat.v4 import new_code_cell
from test_nbgrader import REPO, SOURCE, edit_solution, fill_solutions, index_of, nbgrader

L1, L3 = "lesson1_qk_scores", "lesson3_masking"
TIMESTAMP = "2026-11-02 10:00:00.000000 UTC"  # as nbgrader's exchange writes timestamp.txt
NOT_JSON = '{"cells": [ this notebook was cut short by a bad sync\n'

MASK_BEFORE = """\
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # a hidden key gets no weight at all
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
"""
MASK_AFTER = """\
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)  # too late: the rows no longer add up to 1
"""
# In the locked cell after the solution: a wrong qk_scores that would replace the student's right one, were
# the edit kept. Sanitizing puts the cell back, so the right one is graded.
LOCKED_EDIT = "qk_scores = lambda q, k: q @ k.transpose(-2, -1)  # the check cell, rewritten\n"
LOCKED_CELL = {L1: "qk_scores_check", L3: "attention_check"}


# In lesson 3, a student who writes their own earlier functions below the earlier() lines, with a slip in one.
OWN_QK_NOSCALE = "\n\ndef qk_scores(q, k):\n    return q @ k.transpose(-2, -1)  # no / sqrt(d)\n"
OWN_SOFTMAX_NOTEMP = """

def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    top = scores.amax(dim=dim, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    e = torch.exp(scores - top)  # the temperature, forgotten
    total = e.sum(dim=dim, keepdim=True)
    return e / torch.where(total > 0, total, torch.ones_like(total))
"""


def _own_earlier(nb, code: str) -> None:
    (cell,) = [c for c in nb.cells if c.get("id") == "earlier-lessons"]
    cell.source += code


def _noscale(nb, lesson: str) -> None:
    if lesson == L1:
        edit_solution(nb, "qk_scores_solution", " / math.sqrt(d)", "")
    else:
        _own_earlier(nb, OWN_QK_NOSCALE)


def _notemp(nb, lesson: str) -> None:
    _own_earlier(nb, OWN_SOFTMAX_NOTEMP)


def _mask_after_softmax(nb, lesson: str) -> None:
    edit_solution(nb, "attention_solution", MASK_BEFORE, MASK_AFTER)


def _edits_locked(nb, lesson: str) -> None:
    nb.cells[index_of(nb, LOCKED_CELL[lesson])].source = LOCKED_EDIT


# work -> (lessons it applies to, the edit to the right answer); "unreadable" writes NOT_JSON instead.
WORK = {
    "correct": ((L1, L3), None),
    "noscale": ((L1, L3), _noscale),
    "notemp": ((L3,), _notemp),
    "mask_after_softmax": ((L3,), _mask_after_softmax),
    "edits_locked": ((L1, L3), _edits_locked),
    "unreadable": ((L1, L3), None),
}

# The class of tests/test_autograde.py: every kind of work, and one student who skipped lesson 1.
CLASS = {
    "ada": {L1: "correct", L3: "correct"},
    "bo": {L1: "noscale", L3: "noscale"},
    "cy": {L1: "correct", L3: "notemp"},
    "dee": {L3: "mask_after_softmax"},
    "eli": {L1: "edits_locked", L3: "edits_locked"},
    "fay": {L1: "unreadable", L3: "correct"},
    "gus": {L1: "noscale", L3: "correct"},
}


def lesson_class(lesson: str, n: int) -> dict[str, dict[str, str]]:
    """`n` students of one lesson, their work cycling through every readable kind that fits it."""
    kinds = [w for w, (lessons, _) in WORK.items() if lesson in lessons and w != "unreadable"]
    return {f"s{i:02d}": {lesson: kinds[i % len(kinds)]} for i in range(n)}


def write_course(root: Path, lessons: list[str], env: dict) -> Path:
    """course.yml (short limits), nbgrader_config.py (what `attnlab nbgrader-config` writes) and
    source/<lesson>/ in `root`, then `nbgrader generate_assignment` for each lesson; the course root."""
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load((REPO / "course.yml").read_text())
    data["limits"].update(task_seconds=3, load_seconds=5)
    (root / "course.yml").write_text(yaml.safe_dump(data))
    # What `attnlab nbgrader-config --course course.yml` prints (tests/test_nbgrader.py checks that they agree),
    # without a process start.
    config = nbgrader_config(load_course(root / "course.yml"))
    (root / "nbgrader_config.py").write_text(config)
    for lesson in lessons:
        (root / "source" / lesson).mkdir(parents=True, exist_ok=True)
        (root / "source" / lesson / f"{lesson}.ipynb").write_bytes((SOURCE / lesson / f"{lesson}.ipynb").read_bytes())
    nbgrader(root, *[["generate_assignment", lesson] for lesson in lessons], env=env)
    return root


def student_notebook(root: Path, lesson: str, work: str, student: str) -> str:
    """The text of a student's notebook: the release with the solutions filled in, then `work`'s edit, and a
    scratch cell of the student's own at the end, so that no two students hand in the same code (nor share
    a grade's key in the results file), as in a real class."""
    if work == "unreadable":
        return NOT_JSON
    lessons, edit = WORK[work]
    assert lesson in lessons, (work, lesson)
    nb = nbformat.read(str(root / "release" / lesson / f"{lesson}.ipynb"), as_version=4)
    source = nbformat.read(str(root / "source" / lesson / f"{lesson}.ipynb"), as_version=4)
    fill_solutions(nb, source)
    if edit is not None:
        edit(nb, lesson)
    nb.cells.append(new_code_cell(f"# {student}'s scratch cell\nnotes = {student!r}"))
    return nbformat.writes(nb)


def submit(root: Path, students: dict[str, dict[str, str]]) -> dict[tuple[str, str], Path]:
    """Each student's notebooks in submitted/<student>/<lesson>/, as `nbgrader collect` leaves them:
    {(lesson, student): path}."""
    out = {}
    for student, lessons in students.items():
        for lesson, work in lessons.items():
            folder = root / "submitted" / student / lesson
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "timestamp.txt").write_text(TIMESTAMP)
            path = folder / f"{lesson}.ipynb"
            path.write_text(student_notebook(root, lesson, work, student))
            out[lesson, student] = path
    return out


def build_class(root: Path, students: dict[str, dict[str, str]], *, env: dict) -> Path:
    """A course root with `students`' work (student -> {lesson: work}) submitted, ready for autograde."""
    lessons = sorted({lesson for work in students.values() for lesson in work})
    root = write_course(root, lessons, env)
    submit(root, students)
    return root


def plain_nbgrader_config(course_id: str) -> str:
    """An nbgrader_config.py without attnlab: nbgrader's own Execute runs the notebooks' test cells in a kernel."""
    return f"c = get_config()  # noqa: F821\nc.CourseDirectory.course_id = {course_id!r}\n" + (
        'c.CourseDirectory.source_directory = "source"\n'
    )
