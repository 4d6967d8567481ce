"""The hostile suite again, through `nbgrader autograde` with attnlab's plugin instead of `attnlab grade`.

Every file in submissions/hostile/ (the table in test_hostile.py) becomes one student's notebook: the
base submission plus the attack in the solution cell of a six-task assignment, with a grade cell per
task. One `nbgrader autograde` grades all of them with a real gradebook, as an instructor would. Then:

- every score in the gradebook is the one attnlab's grader gives the same notebook with the same seed
  (test_hostile.py shows what those scores are worth, attack by attack);
- the attacks that return wrong answers lose points there too;
- nothing is left: no process carrying the run's mark, no file named with it in the host's /tmp,
  $HOME, site-packages or the course folder, no connection at the test's listener, and every submitted
  notebook is as submitted;
- the hidden tests that autograde restores into every grade cell reach neither the feedback nor the
  gradebook, though read_hidden_tests.py raises whatever it finds of them from a task.

The same autograde also grades a class of tampered notebooks (TAMPERED): nbgrader metadata edited by
hand (schema versions 1 and 99, a solution cell made a 1000-point grade cell, a duplicated grade_id, a
new grade cell), no kernelspec, an nbformat_minor that is not a number, and a file that is not JSON.
None of them stops the run: every other student is graded in it, every readable one scores what
`attnlab grade` gives its code, and the log names what was wrong with each.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from attnlab.nbgrader.steps import run_steps
from conftest import REPO, SUBMISSIONS, build
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from test_hostile import connections, survivors, traces

ASSIGNMENT, NOTEBOOK = "hostile", "attack"
SEED = 11  # the `grade` fixture's default seed
ATTACKS = sorted(p.stem for p in (SUBMISSIONS / "hostile").glob("*.py"))
# Attacks whose answers are wrong somewhere: the grade must show it, as with `attnlab grade`.
WRONG = {
    "patch_allclose": ["qk_scores"],
    "lying_subclass": ["qk_scores"],
    "torch_c_evasion": ["softmax_with_temperature", "attention"],
}
HIDDEN = "HIDDEN-TEST-4c1d9e"  # only in the hidden tests of the source notebook's grade cells


def _cell(nb: dict, grade_id: str) -> dict:
    return next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def _schema(version: int, grade_id: str):
    def edit(nb):
        _cell(nb, grade_id)["metadata"]["nbgrader"]["schema_version"] = version

    return edit


def _worth_1000(nb):
    _cell(nb, "work_solution")["metadata"]["nbgrader"].update(grade=True, points=1000)


def _duplicate_id(nb):
    nb["cells"].insert(1, json.loads(json.dumps(_cell(nb, "qk_scores"))))


def _new_grade_cell(nb):
    meta = {"grade": True, "solution": False, "locked": True, "grade_id": "bonus", "points": 100, "schema_version": 3}
    nb["cells"].append(
        {
            "cell_type": "code",
            "metadata": {"nbgrader": meta},
            "source": "bonus = 100",
            "outputs": [],
            "execution_count": None,
        }
    )


def _no_kernelspec(nb):
    del nb["metadata"]["kernelspec"]


def _odd_minor(nb):
    nb["nbformat_minor"] = "4.5"


# Students whose correct work comes in a notebook edited by hand: the edit, and words the log must say.
TAMPERED = {
    "schema_1": (_schema(1, "qk_scores"), "cell 4: qk_scores: schema_version 1"),
    "schema_99": (_schema(99, "work_solution"), "cell 3: work_solution: schema_version 99"),
    "worth_1000": (_worth_1000, "work_solution: grade True (the gradebook says False), points 1000"),
    "duplicate_id": (_duplicate_id, "cell 2: grade_id 'qk_scores' is also on cell 5, which keeps it"),
    "new_grade_cell": (_new_grade_cell, "grade_id 'bonus' is not in the gradebook"),
    "no_kernelspec": (_no_kernelspec, "kernelspec missing; filled in as python3"),
    "odd_minor": (_odd_minor, "nbformat_minor '4.5'"),
    "not_json": (None, "not_json/hostile/attack.ipynb is not JSON"),
}
READABLE = [s for s in TAMPERED if s != "not_json"]


def _meta(grade_id: str, *, grade: bool, solution: bool, points: float | None = None) -> dict:
    meta = {"grade": grade, "solution": solution, "locked": not solution, "grade_id": grade_id, "schema_version": 3}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook(course):
    cells = [
        new_markdown_cell("# Every task at once\nWrite all six in the cell below."),
        new_code_cell("from attnlab import check", metadata=_meta("imports", grade=False, solution=False)),
        new_code_cell(
            "### BEGIN SOLUTION\n" + (SUBMISSIONS / "base.py").read_text() + "\n### END SOLUTION",
            metadata=_meta("work_solution", grade=False, solution=True),
        ),
    ]
    for t in course.tasks:
        hidden = f"\n### BEGIN HIDDEN TESTS\nassert {t.function} is not None, {HIDDEN!r}\n### END HIDDEN TESTS"
        cells.append(
            new_code_cell(
                f"# attnlab: graded outside this kernel.\ncheck({t.function})" + hidden,
                metadata=_meta(t.id, grade=True, solution=False, points=t.points),
            )
        )
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return new_notebook(cells=cells, metadata={"kernelspec": kernelspec, "language_info": {"name": "python"}})


def nbgrader(root: Path, *commands: list[str], env: dict, check: bool = True) -> list[subprocess.CompletedProcess]:
    """`nbgrader ARGS` from `root` for each ARGS in `commands`, in order, in one process (attnlab.nbgrader.steps)."""
    done = run_steps([(root, args) for args in commands], env=env, timeout=900)
    for out in done:
        assert out.returncode == 0 or not check, (
            f"{' '.join(out.args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
        )
        assert "Exception while loading config file" not in out.stderr, out.stderr[-6000:]
    return done


@pytest.fixture(scope="module")
def attack_run(tmp_path_factory, course):
    from attnlab.nbgrader import nbgrader_config

    root = tmp_path_factory.mktemp("hostile-course")
    # The same course as the `grade` fixture's, short limits included.
    (root / "nbgrader_config.py").write_text(nbgrader_config(course, exchange_root=str(root / "exchange")))
    env = {**os.environ, "ATTNLAB_SECRET_SEED": str(SEED)}
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(source_notebook(course), str(root / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"))
    nbgrader(root, ["generate_assignment", ASSIGNMENT], env=env)
    released = nbformat.read(str(root / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"), as_version=4)

    mark = uuid.uuid4().hex
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    marks = {"MARKER": mark, "PORT": listener.getsockname()[1]}
    built = tmp_path_factory.mktemp("built")
    submitted = {}
    for attack in ATTACKS:
        text = build(SUBMISSIONS / "hostile" / f"{attack}.py", built).read_text()
        for key, value in marks.items():
            text = text.replace(f"@{key}@", str(value))
        nb = nbformat.from_dict(released)
        (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "work_solution"]
        cell.source = text
        path = root / "submitted" / attack / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, str(path))
        submitted[attack] = (path, path.read_bytes())
    base = (SUBMISSIONS / "base.py").read_text()
    for student, (edit, _) in TAMPERED.items():
        nb = json.loads(json.dumps(released))
        _cell(nb, "work_solution")["source"] = base
        if edit is not None:
            edit(nb)
        path = root / "submitted" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(nb, indent=1) if edit is not None else "this is not a notebook {")
        submitted[student] = (path, path.read_bytes())

    # The not-JSON notebook is the one nbgrader cannot grade: it says so, and ends with exit code 1.
    # The feedback comes from the same process; it runs no student code, and everything the autograde
    # started is looked for once that process has ended, as after `nbgrader autograde` itself.
    autograde, feedback = nbgrader(
        root, ["autograde", ASSIGNMENT], ["generate_feedback", ASSIGNMENT], env=env, check=False
    )
    assert feedback.returncode == 0, f"generate_feedback failed:\n{feedback.stdout[-3000:]}\n{feedback.stderr[-6000:]}"
    left = survivors(mark)
    time.sleep(1.5)  # a daemon alive anywhere would have written its file again by now
    result = {
        "root": root,
        "mark": mark,
        "submitted": submitted,
        "survivors": left,
        "traces": traces(mark, root, REPO),
        "connections": connections(listener),
        "autograde": autograde,
    }
    listener.close()

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course.course_id) as gb:
        notebooks = {s: gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, s) for s in [*ATTACKS, *TAMPERED]}
        result["gradebook"] = {s: {g.name: g.auto_score for g in nb.grades} for s, nb in notebooks.items()}
        result["manual"] = {s: [g.needs_manual_grade for g in nb.grades] for s, nb in notebooks.items()}
        result["comments"] = {
            s: [(c.auto_comment, c.manual_comment) for c in nb.comments] for s, nb in notebooks.items()
        }
    return result


def test_the_suite_has_at_least_fifteen_attacks():
    assert len(ATTACKS) >= 15, ATTACKS


@pytest.mark.slow
@pytest.mark.parametrize("attack", ATTACKS)
def test_gradebook_equals_the_trusted_grader(attack_run, grade, attack):
    path, _ = attack_run["submitted"][attack]
    trusted = {t["id"]: t for t in grade(path, seed=SEED)["tasks"]}
    stored = attack_run["gradebook"][attack]
    assert stored == {tid: t["score"] for tid, t in trusted.items()}, {
        tid: (t["status"], t["feedback"]) for tid, t in trusted.items()
    }
    for tid in WRONG.get(attack, []):
        assert stored[tid] < trusted[tid]["max_score"], (attack, tid)


@pytest.mark.slow
def test_the_hidden_tests_reach_neither_the_feedback_nor_the_gradebook(attack_run):
    root, student = attack_run["root"], "read_hidden_tests"
    autograded = (root / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text()
    assert HIDDEN in autograded  # autograde did restore them into the notebook it graded
    outputs = json.dumps([c.get("outputs", []) for c in json.loads(autograded)["cells"]])
    assert "hidden: none found" in outputs  # the attack ran, and its message is in the feedback
    assert HIDDEN not in outputs and "BEGIN HIDDEN TESTS" not in outputs
    for who in ATTACKS:  # the attack's own code is on its page, spelling the delimiter in two halves
        page = (root / "feedback" / who / ASSIGNMENT / f"{NOTEBOOK}.html").read_text()
        assert HIDDEN not in page and "BEGIN HIDDEN TESTS" not in page, who
    assert "hidden: none found" in (root / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html").read_text()
    assert HIDDEN not in repr(attack_run["gradebook"][student]) + repr(attack_run["comments"][student])


@pytest.mark.slow
@pytest.mark.parametrize("student", READABLE)
def test_a_tampered_notebook_is_graded_as_attnlab_grade_grades_its_code(attack_run, grade, student):
    path, _ = attack_run["submitted"][student]
    trusted = {t["id"]: t for t in grade(path, seed=SEED)["tasks"]}
    assert attack_run["gradebook"][student] == {tid: t["score"] for tid, t in trusted.items()}
    assert all(t["score"] == t["max_score"] for t in trusted.values()), trusted  # right work, full marks
    assert not any(attack_run["manual"][student]), student


@pytest.mark.slow
@pytest.mark.parametrize("student", list(TAMPERED))
def test_the_log_names_each_tampered_notebook_and_what_was_wrong(attack_run, student):
    _, words = TAMPERED[student]
    log = attack_run["autograde"].stderr
    lines = [ln for ln in log.splitlines() if f"{student}/{ASSIGNMENT}/{NOTEBOOK}.ipynb" in ln and "attnlab" in ln]
    assert any(words in ln for ln in lines), (words, lines)
    assert "One or more notebooks in the assignment use" not in log  # nbgrader's schema error, which stops the run


@pytest.mark.slow
def test_one_unreadable_notebook_stops_no_one_else(attack_run):
    log = attack_run["autograde"].stderr
    failed = re.findall(r"There was an error processing assignment '\S+' for student '(\S+)'", log)
    assert failed == ["not_json"], log[-3000:]
    assert attack_run["autograde"].returncode == 1  # nbgrader's own: a notebook it could not grade
    for student in [*ATTACKS, *READABLE]:
        assert None not in attack_run["gradebook"][student].values(), student
    assert all(attack_run["manual"]["not_json"])  # nbgrader leaves it to the instructor, as it says


@pytest.mark.slow
def test_nothing_is_left_behind(attack_run):
    assert attack_run["survivors"] == []
    assert attack_run["traces"] == []
    assert attack_run["connections"] == 0
    for attack, (path, before) in attack_run["submitted"].items():
        assert path.read_bytes() == before, attack
