"""`nbgrader autograde` with attnlab.nbgrader_plugin stores the trusted grader's scores, end to end.

One course is built in a temporary folder and driven with nbgrader's own commands, a real sqlite
gradebook and a real python3 kernel: `generate_assignment`, one `autograde` for every student,
`generate_feedback` and `export`. The source notebook has two tasks (qk_scores 15, causal_mask 10) and a
hidden-test region in one autograder cell. The students:

- correct: both functions right;
- noscale: qk_scores without / sqrt(d), the typical mistake: partial credit;
- cheater: noscale's qk_scores, plus a cell that replaces torch.allclose and turns every later cell into
  `pass` in the kernel (plain nbgrader would give full marks): it gains nothing;
- warner: right, but its torch call warns on stderr inside the graded cell (plain nbgrader gives 0);
- exiter: right, then a cell calls os._exit(1) (the kernel dies; plain nbgrader fails the notebook);
- looper: right, then an endless loop at top level (the kernel cell times out).

The gradebook must hold, for every student and task, exactly the score that attnlab's grader gives the
same notebook with the same seed.
"""

from __future__ import annotations

import csv
import html
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from attnlab.config import load_course
from attnlab.nbgrader_plugin import FEEDBACK, nbgrader_config

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT, NOTEBOOK = "ps1", "attention_basics"
SEED = 20240607
TASKS = {"qk_scores": 15.0, "causal_mask": 10.0}
HIDDEN = "HIDDEN-TEST-b7e1f0"  # only in the hidden-test region of the qk_scores autograder cell
GRADE_COMMENT = "# attnlab: the score of this cell comes from the trusted grader, which runs outside this kernel."

QK = '''\
def qk_scores(q, k):
    """q (..., L, d), k (..., S, d) -> (..., L, S)"""
    ### BEGIN SOLUTION
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    ### END SOLUTION'''
MASK = '''\
def causal_mask(seq_len, device=None):
    """bool (seq_len, seq_len), True where j <= i"""
    ### BEGIN SOLUTION
    if seq_len < 1:
        raise ValueError("seq_len must be at least 1")
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()
    ### END SOLUTION'''

STUDENT_QK = "def qk_scores(q, k):\n    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])\n"
NOSCALE_QK = "def qk_scores(q, k):\n    return q @ k.transpose(-2, -1)\n"
WARNING_QK = ("def qk_scores(q, k):\n"
              "    torch.meshgrid(torch.arange(1), torch.arange(1))  # UserWarning: pass the indexing argument\n"
              "    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])\n")
STUDENT_MASK = ("def causal_mask(seq_len, device=None):\n"
                "    if seq_len < 1:\n"
                "        raise ValueError('seq_len must be at least 1')\n"
                "    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()\n")
CHEAT = '''\
import torch
torch.allclose = lambda *args, **kwargs: True

def _every_later_cell_passes(lines):
    return ["pass\\n"]

get_ipython().input_transformers_cleanup.append(_every_later_cell_passes)
'''
# student: (qk_scores, causal_mask, extra cell placed after the last solution cell or before everything)
STUDENTS = {
    "correct": (STUDENT_QK, STUDENT_MASK, None),
    "noscale": (NOSCALE_QK, STUDENT_MASK, None),
    "cheater": (NOSCALE_QK, STUDENT_MASK, ("first", CHEAT)),
    "warner": (WARNING_QK, STUDENT_MASK, None),
    "exiter": (STUDENT_QK, STUDENT_MASK, ("after", "import os\nos._exit(1)")),
    "looper": (STUDENT_QK, STUDENT_MASK, ("after", "while True:\n    pass")),
}
# Tasks these students got right; each must keep its points whatever else the notebook does.
RIGHT = {
    "correct": ["qk_scores", "causal_mask"],
    "noscale": ["causal_mask"],
    "cheater": ["causal_mask"],
    "warner": ["qk_scores", "causal_mask"],
    "exiter": ["qk_scores", "causal_mask"],
    "looper": ["qk_scores", "causal_mask"],
}


def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: float | None = None) -> dict:
    meta = {"grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id, "schema_version": 3}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook():
    def autograder(task_id: str, function: str, hidden: str = ""):
        text = f"{GRADE_COMMENT}\ncheck({function})" + hidden
        return new_code_cell(text, metadata=_meta(task_id, grade=True, solution=False, locked=True, points=TASKS[task_id]))

    hidden = f"\n### BEGIN HIDDEN TESTS\n_hidden_probe = {HIDDEN!r}\n### END HIDDEN TESTS"
    cells = [
        new_markdown_cell("# Attention basics\nImplement `qk_scores`, then `causal_mask`."),
        new_code_cell("import math\n\nimport torch\n\nfrom attnlab import check"),
        new_code_cell(QK, metadata=_meta("qk_scores_solution", grade=False, solution=True, locked=False)),
        autograder("qk_scores", "qk_scores", hidden),
        new_code_cell(MASK, metadata=_meta("causal_mask_solution", grade=False, solution=True, locked=False)),
        autograder("causal_mask", "causal_mask"),
    ]
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return new_notebook(cells=cells, metadata={"kernelspec": kernelspec, "language_info": {"name": "python"}})


def submission(released, qk: str, mask: str, extra) -> "nbformat.NotebookNode":
    nb = nbformat.from_dict(released)
    answers = {"qk_scores_solution": qk, "causal_mask_solution": mask}
    last = 0
    for index, cell in enumerate(nb.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
            last = index
    if extra:
        where, code = extra
        nb.cells.insert(2 if where == "first" else last + 1, new_code_cell(code))
    return nb


def nbgrader(root: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={root}"]
    out = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    # nbgrader logs a broken nbgrader_config.py and goes on without it, grading the untrusted way.
    assert "Exception while loading config file" not in out.stderr, out.stderr[-6000:]
    return out


@pytest.fixture(scope="module")
def course_run(tmp_path_factory):
    """Release, submit, autograde, give feedback and export once; returns what every test reads."""
    root = tmp_path_factory.mktemp("course")
    data = yaml.safe_load((REPO / "course.yml").read_text())
    data["limits"].update(task_seconds=3, load_seconds=10)  # also the kernel's per-cell timeout (10 s)
    data["tasks"] = [t for t in data["tasks"] if t["id"] in TASKS]
    (root / "course.yml").write_text(yaml.safe_dump(data))
    course = load_course(root / "course.yml")
    assert {t.id: t.points for t in course.tasks} == TASKS
    (root / "nbgrader_config.py").write_text(nbgrader_config(course, exchange_root=str(root / "exchange")))
    env = {**os.environ, "ATTNLAB_SECRET_SEED": str(SEED)}

    source = root / "source" / ASSIGNMENT
    source.mkdir(parents=True)
    nbformat.write(source_notebook(), str(source / f"{NOTEBOOK}.ipynb"))
    nbgrader(root, "generate_assignment", ASSIGNMENT, env=env)
    released = nbformat.read(str(root / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"), as_version=4)
    submitted = {}
    for student, (qk, mask, extra) in STUDENTS.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        submitted[student] = folder / f"{NOTEBOOK}.ipynb"
        nbformat.write(submission(released, qk, mask, extra), str(submitted[student]))

    autograde = nbgrader(root, "autograde", ASSIGNMENT, env=env)
    nbgrader(root, "generate_feedback", ASSIGNMENT, env=env)
    nbgrader(root, "export", env=env)

    from attnlab.grade import grade_paths

    trusted = grade_paths([submitted[s] for s in STUDENTS], course=course, seed=SEED, task_ids=list(TASKS))
    from nbgrader.api import Gradebook

    gradebook = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course.course_id) as gb:
        for student in STUDENTS:
            nb = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student)
            gradebook[student] = {g.name: (g.auto_score, g.max_score, g.needs_manual_grade) for g in nb.grades}
    return {
        "root": root,
        "released": released,
        "trusted": {s: {t["id"]: t for t in r["tasks"]} for s, r in zip(STUDENTS, trusted)},
        "totals": {s: r["total"] for s, r in zip(STUDENTS, trusted)},
        "gradebook": gradebook,
        "autograde_log": autograde.stderr,
    }


def test_release_hides_solutions_and_hidden_tests(course_run):
    text = nbformat.writes(course_run["released"])
    assert HIDDEN not in text and "math.sqrt" not in text and "tril()" not in text


@pytest.mark.parametrize("student", list(STUDENTS))
def test_gradebook_holds_the_trusted_scores(course_run, student):
    stored = course_run["gradebook"][student]
    assert set(stored) == set(TASKS), stored
    for task_id, points in TASKS.items():
        auto_score, max_score, needs_manual = stored[task_id]
        trusted = course_run["trusted"][student][task_id]
        assert max_score == points == trusted["max_score"]
        assert auto_score == trusted["score"], (student, task_id, auto_score, trusted["status"], trusted["feedback"])
        assert needs_manual is False


@pytest.mark.parametrize("student", [s for s in STUDENTS if s not in ("exiter", "looper")])
def test_every_right_task_keeps_its_points(course_run, student):
    for task_id in RIGHT[student]:
        assert course_run["gradebook"][student][task_id][0] == TASKS[task_id], (student, task_id, course_run["trusted"][student][task_id])


@pytest.mark.parametrize("student", ["exiter", "looper"])
def test_a_dead_or_hung_cell_after_the_functions_costs_nothing(course_run, student):
    for task_id in RIGHT[student]:
        assert course_run["gradebook"][student][task_id][0] == TASKS[task_id], (student, task_id, course_run["trusted"][student][task_id])


def test_the_typical_mistake_gets_partial_credit(course_run):
    score = course_run["gradebook"]["noscale"]["qk_scores"][0]
    assert 0 < score < TASKS["qk_scores"]
    assert "missing_scale" in course_run["trusted"]["noscale"]["qk_scores"]["diagnoses"]


def test_the_in_kernel_cheat_gains_nothing(course_run):
    gb = course_run["gradebook"]
    assert gb["cheater"]["qk_scores"][0] == gb["noscale"]["qk_scores"][0] < TASKS["qk_scores"]


def test_graded_cells_hold_feedback_and_the_score_only(course_run):
    for student in STUDENTS:
        path = course_run["root"] / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            task_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if task_id not in TASKS:
                continue
            kinds = [o.output_type for o in cell.outputs]
            assert kinds == ["display_data", "execute_result"], (student, task_id, kinds)
            assert float(cell.outputs[1].data["text/plain"]) == course_run["trusted"][student][task_id]["score"]


def test_a_warning_on_stderr_costs_nothing(course_run):
    # Plain nbgrader 0.9.6 gives 0 to a grade cell that wrote to stderr (utils.determine_grade).
    assert course_run["gradebook"]["warner"]["qk_scores"][0] == TASKS["qk_scores"]


def test_feedback_shows_the_trusted_feedback_and_no_hidden_test(course_run):
    root = course_run["root"]
    autograded = (root / "autograded" / "correct" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text()
    assert HIDDEN in autograded  # autograde restored the hidden tests, so hiding them in feedback matters
    for student in STUDENTS:
        page = (root / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html").read_text()
        assert HIDDEN not in page, student
        assert "BEGIN HIDDEN TESTS" not in page, student
        for task_id, task in course_run["trusted"][student].items():
            text = FEEDBACK.format(task=task_id, score=task["score"], max_score=task["max_score"],
                                   status=task["status"], feedback=task["feedback"])
            assert html.escape(text) in page, (student, task_id)


def test_export_has_every_students_total(course_run):
    with open(course_run["root"] / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(STUDENTS)
    for student, row in rows.items():
        assert float(row["score"]) == pytest.approx(course_run["totals"][student], abs=1e-9), student
        assert float(row["max_score"]) == sum(TASKS.values())
