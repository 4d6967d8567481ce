"""The hostile suite again, through `nbgrader autograde` with attnlab's plugin instead of `attnlab grade`.

Every file in submissions/hostile/ (the table in test_hostile.py) becomes one student's notebook: the
base submission plus the attack in the solution cell of a six-task assignment, with a grade cell per
task. One `nbgrader autograde` grades all of them with a real gradebook, as an instructor would. Then:

- every score in the gradebook is the one attnlab's grader gives the same notebook with the same seed
  (test_hostile.py shows what those scores are worth, attack by attack);
- the attacks that return wrong answers lose points there too;
- nothing is left: no process carrying the run's mark, no file named with it in the host's /tmp,
  $HOME, site-packages or the course folder, no connection at the test's listener, and every submitted
  notebook is as submitted.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from conftest import REPO, SUBMISSIONS, TASK_SECONDS, build
from test_hostile import connections, survivors, traces

ASSIGNMENT, NOTEBOOK = "hostile", "attack"
SEED = 11  # the `grade` fixture's default seed
ATTACKS = sorted(p.stem for p in (SUBMISSIONS / "hostile").glob("*.py"))
# Attacks whose answers are wrong somewhere: the grade must show it, as with `attnlab grade`.
WRONG = {"patch_allclose": ["qk_scores"], "lying_subclass": ["qk_scores"],
         "torch_c_evasion": ["softmax_with_temperature", "attention"]}


def _meta(grade_id: str, *, grade: bool, solution: bool, points: float | None = None) -> dict:
    meta = {"grade": grade, "solution": solution, "locked": not solution, "grade_id": grade_id, "schema_version": 3}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook(course):
    cells = [
        new_markdown_cell("# Every task at once\nWrite all six in the cell below."),
        new_code_cell("from attnlab import check", metadata=_meta("imports", grade=False, solution=False)),
        new_code_cell("### BEGIN SOLUTION\n" + (SUBMISSIONS / "base.py").read_text() + "\n### END SOLUTION",
                      metadata=_meta("work_solution", grade=False, solution=True)),
    ]
    for t in course.tasks:
        cells.append(new_code_cell(f"# attnlab: graded outside this kernel.\ncheck({t.function})",
                                   metadata=_meta(t.id, grade=True, solution=False, points=t.points)))
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return new_notebook(cells=cells, metadata={"kernelspec": kernelspec, "language_info": {"name": "python"}})


def nbgrader(root: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, f"{' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    assert "Exception while loading config file" not in out.stderr, out.stderr[-6000:]
    return out


@pytest.fixture(scope="module")
def attack_run(tmp_path_factory, course):
    from attnlab.nbgrader_plugin import nbgrader_config

    root = tmp_path_factory.mktemp("hostile-course")
    # The same course as the `grade` fixture's, short limits included.
    (root / "nbgrader_config.py").write_text(nbgrader_config(course, exchange_root=str(root / "exchange")))
    env = {**os.environ, "ATTNLAB_SECRET_SEED": str(SEED)}
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(source_notebook(course), str(root / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"))
    nbgrader(root, "generate_assignment", ASSIGNMENT, env=env)
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

    nbgrader(root, "autograde", ASSIGNMENT, env=env)
    left = survivors(mark)
    time.sleep(1.5)  # a daemon alive anywhere would have written its file again by now
    result = {"root": root, "mark": mark, "submitted": submitted, "survivors": left,
              "traces": traces(mark, root, REPO), "connections": connections(listener)}
    listener.close()

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course.course_id) as gb:
        result["gradebook"] = {a: {g.name: g.auto_score for g in gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, a).grades}
                               for a in ATTACKS}
    return result


def test_the_suite_has_at_least_fifteen_attacks():
    assert len(ATTACKS) >= 15, ATTACKS


@pytest.mark.parametrize("attack", ATTACKS)
def test_gradebook_equals_the_trusted_grader(attack_run, grade, attack):
    path, _ = attack_run["submitted"][attack]
    trusted = {t["id"]: t for t in grade(path, seed=SEED)["tasks"]}
    stored = attack_run["gradebook"][attack]
    assert stored == {tid: t["score"] for tid, t in trusted.items()}, {tid: (t["status"], t["feedback"]) for tid, t in trusted.items()}
    for tid in WRONG.get(attack, []):
        assert stored[tid] < trusted[tid]["max_score"], (attack, tid)


def test_nothing_is_left_behind(attack_run):
    assert attack_run["survivors"] == []
    assert attack_run["traces"] == []
    assert attack_run["connections"] == 0
    for attack, (path, before) in attack_run["submitted"].items():
        assert path.read_bytes() == before, attack
