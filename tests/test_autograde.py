"""`attnlab autograde` stores exactly what `nbgrader autograde` with TrustedGrades stores, for a whole class.

One class (tests/nbgrader_class.py: right work, the typical mistakes, a locked cell edited, a notebook that
is not JSON) is submitted once, and its course root copied twice, with the same secret seed:

    copy A: nbgrader autograde, each lesson     (TrustedGrades grades one notebook at a time, no results file)
    copy B: attnlab autograde LESSON --jobs 2   (the class graded in parallel into the results file first)
    both:   nbgrader generate_feedback, each lesson; nbgrader export

Then the two copies must agree field by field: every grade and comment in the gradebook, the export's
rows, the feedback pages and the grade cells of the autograded notebooks. Copy B then goes on: a second
`attnlab autograde` grades nothing, and `--student` makes one student's autograded notebook again.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from attnlab.course import load_course
from attnlab.nbgrader.steps import run_steps
from nbgrader_class import CLASS, L1, L3, build_class
from test_nbgrader import SEED

LESSONS = [L1, L3]
READABLE = sorted((lesson, s) for s, work in CLASS.items() for lesson, w in work.items() if w != "unreadable")
BROKEN = "fay/lesson1_qk_scores/lesson1_qk_scores.ipynb"  # not JSON


def attnlab_autograde(root: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "attnlab.cli", "autograde", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def gradebook(root: Path) -> dict:
    """Every submission's timestamp, grades and comments, as the gradebook holds them."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", load_course(root / "course.yml").course_id) as gb:
        for lesson in LESSONS:
            for sub in gb.assignment_submissions(lesson):
                for nb in sub.notebooks:
                    out[lesson, sub.student_id, nb.name] = {
                        "timestamp": sub.timestamp,
                        "grades": {
                            g.name: (g.auto_score, g.max_score, g.needs_manual_grade, g.manual_score, g.extra_credit)
                            for g in nb.grades
                        },
                        "comments": {c.name: (c.auto_comment, c.manual_comment) for c in nb.comments},
                    }
    return out


def export_rows(root: Path) -> list[dict]:
    # Every column stays: its one timestamp is the submission's (timestamp.txt), not the run's.
    with open(root / "grades.csv", newline="") as f:
        return list(csv.DictReader(f))


def grade_cell_outputs(root: Path) -> dict:
    """For every autograded notebook, each grade cell's outputs (the trusted feedback and score)."""
    out = {}
    for path in sorted((root / "autograded").glob("*/*/*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        out[path.relative_to(root / "autograded").as_posix()] = {
            c.metadata.nbgrader["grade_id"]: c.outputs for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
        }
    return out


def feedback_pages(root: Path) -> dict:
    # Nothing on a page depends on when it was made: the one time on it is the submission's timestamp.txt.
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted((root / "feedback").rglob("*.html"))}


def snapshot(root: Path) -> dict:
    return {
        "gradebook": gradebook(root),
        "export": export_rows(root),
        "cells": grade_cell_outputs(root),
        "feedback": feedback_pages(root),
    }


def results_lines(root: Path) -> list[str]:
    return (root / "attnlab_results.jsonl").read_text().splitlines()


def autograded_files(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in (root / "autograded").rglob("*.ipynb")}


@pytest.fixture(scope="module")
def env():
    return {**os.environ, "ATTNLAB_SECRET_SEED": str(SEED)}


@pytest.fixture(scope="module")
def copies(tmp_path_factory, env):
    """The class autograded both ways, fed back and exported; a snapshot of each copy and their logs."""
    base = build_class(tmp_path_factory.mktemp("class") / "course", CLASS, env=env)
    a, b = base.parent / "A", base.parent / "B"
    shutil.copytree(base, a)
    shutil.copytree(base, b)
    fast = {lesson: attnlab_autograde(b, lesson, "--jobs", "2", env=env) for lesson in LESSONS}
    for lesson, out in fast.items():  # 1: a notebook could not be graded (the unreadable one)
        assert out.returncode == (1 if lesson == L1 else 0), f"attnlab autograde {lesson}:\n{out.stderr[-4000:]}"
    # Copy A from start to end, then copy B's feedback and export: one child, one start.
    after = [*(["generate_feedback", lesson] for lesson in LESSONS), ["export"]]
    steps = [*((a, ["autograde", lesson]) for lesson in LESSONS), *((a, s) for s in after), *((b, s) for s in after)]
    done = run_steps(steps, env=env, timeout=600)
    for (root, args), out in zip(steps, done):
        code = 1 if args == ["autograde", L1] else 0
        assert out.returncode == code, f"{root.name}: nbgrader {' '.join(args)}:\n{out.stderr[-4000:]}"
    return {
        "A": snapshot(a),
        "B": snapshot(b),
        "b": b,
        "plain": {lesson: out.stderr for (_, (_, lesson)), out in zip(steps[:2], done)},
        "fast": fast,
        "results": results_lines(b),
    }


@pytest.mark.slow
def test_both_copies_hold_the_same_grades_and_comments(copies):
    a, b = copies["A"]["gradebook"], copies["B"]["gradebook"]
    assert sorted(a) == sorted(b) == sorted([*((lesson, s, lesson) for lesson, s in READABLE), (L1, "fay", L1)])
    for key in a:
        assert a[key] == b[key], key


@pytest.mark.slow
def test_the_grades_are_the_trusted_ones_not_a_shared_accident(copies):
    gb = copies["B"]["gradebook"]

    def score(lesson, student, task):
        return gb[lesson, student, lesson]["grades"][task][0]

    assert score(L1, "ada", "qk_scores") == 15 and score(L3, "ada", "attention") == 20
    assert 0 < score(L1, "bo", "qk_scores") < 15  # no / sqrt(d)
    # Lesson 2's softmax, ignoring the temperature in cy's lesson 3 notebook, is lesson 2's slip: lesson 3's
    # attention, right given it, loses nothing; the mask after the softmax is attention's own, and costs points.
    assert score(L3, "cy", "attention") == 20
    assert score(L3, "dee", "attention") < 20
    # A locked cell edited to replace qk_scores: sanitizing put it back, and both steps graded what it left.
    assert score(L1, "eli", "qk_scores") == 15 and score(L3, "eli", "attention") == 20


@pytest.mark.slow
def test_both_exports_have_the_same_rows(copies):
    a, b = copies["A"]["export"], copies["B"]["export"]
    assert len(a) == len(b) == len(LESSONS) * len(CLASS)
    assert a == b


@pytest.mark.slow
def test_both_copies_give_the_same_feedback_pages(copies):
    a, b = copies["A"]["feedback"], copies["B"]["feedback"]
    assert sorted(a) == sorted(b) == sorted(f"feedback/{s}/{lesson}/{lesson}.html" for lesson, s in READABLE)
    for page in a:
        assert a[page] == b[page], page


@pytest.mark.slow
def test_both_autograded_notebooks_hold_the_same_grade_cell_outputs(copies):
    a, b = copies["A"]["cells"], copies["B"]["cells"]
    assert sorted(a) == sorted(b) == sorted(f"{s}/{lesson}/{lesson}.ipynb" for lesson, s in READABLE)
    for notebook in a:
        assert a[notebook] == b[notebook], notebook
        # the feedback's words, the mistake's picture where there is one, the score
        shapes = (["display_data", "execute_result"], ["display_data", "display_data", "execute_result"])
        assert all(kinds in shapes for kinds in _kinds(a[notebook])), notebook


def _kinds(cells: dict) -> list[list[str]]:
    return [[o.output_type for o in outputs] for outputs in cells.values()]


@pytest.mark.slow
def test_an_unreadable_notebook_gets_one_line_and_no_grade_and_the_others_are_graded(copies):
    for log in (copies["fast"][L1].stderr, copies["plain"][L1]):
        # Lines that name it, less nbgrader's progress lines (INFO) and its traceback (indented).
        named = [ln for ln in log.splitlines() if BROKEN in ln and "| INFO]" not in ln and not ln[:1].isspace()]
        assert len(named) == 1 and "is not JSON" in named[0], named
    # Step 1 left it to nbgrader, which left it to manual grading, as in copy A.
    assert f"{L1}/{L1}.ipynb: 5 notebook(s): 5 to grade" in copies["fast"][L1].stderr
    assert copies["B"]["gradebook"][L1, "fay", L1]["grades"]["qk_scores"][:3] == (None, 15.0, True)
    assert copies["B"]["gradebook"][L3, "fay", L3]["grades"]["attention"][0] == 20


@pytest.mark.slow
def test_step_two_takes_every_grade_from_the_results_file(copies):
    for lesson in LESSONS:
        graded = [line for line in copies["fast"][lesson].stderr.splitlines() if "attnlab trusted grades for" in line]
        assert len(graded) == sum(1 for le, _ in READABLE if le == lesson)
        assert all("from the results file" in line for line in graded), graded
    assert len(copies["results"]) == len(READABLE)


@pytest.fixture(scope="module")
def rerun(copies, env):
    """`attnlab autograde` again on copy B, both lessons: (its runs, the results file's lines before, after)."""
    before = results_lines(copies["b"])
    runs = {lesson: attnlab_autograde(copies["b"], lesson, "--jobs", "2", env=env) for lesson in LESSONS}
    return runs, before, results_lines(copies["b"])


@pytest.mark.slow
def test_a_second_run_grades_nothing_again(rerun):
    runs, before, after = rerun
    for lesson, out in runs.items():
        n = sum(1 for le, _ in READABLE if le == lesson)
        assert f"{lesson}/{lesson}.ipynb: {n} notebook(s): 0 to grade, {n} from the results file" in out.stderr
    assert after == before
    records = [json.loads(line) for line in after]
    assert sorted((r["assignment"], r["student"]) for r in records) == READABLE  # one line per readable notebook
    # Paths from the course root, so that the course root can move and keep its lines.
    assert all(r["path"] == f"submitted/{r['student']}/{r['assignment']}/{r['assignment']}.ipynb" for r in records)


@pytest.fixture(scope="module")
def regrade(rerun, copies, env):
    """`attnlab autograde LESSON --student bo` on copy B: (the run, autograded files and results before, after)."""
    b = copies["b"]
    before = autograded_files(b), results_lines(b)
    out = attnlab_autograde(b, L1, "--student", "bo", "--jobs", "2", env=env)
    return out, before, (autograded_files(b), results_lines(b)), gradebook(b)


@pytest.mark.slow
def test_student_regrades_that_student_alone(regrade, copies):
    out, (files, lines), (files_after, lines_after), gb = regrade
    assert out.returncode == 0, out.stderr[-4000:]
    assert f"{L1}/{L1}.ipynb: 1 notebook(s): 0 to grade, 1 from the results file" in out.stderr
    mine = f"autograded/bo/{L1}/{L1}.ipynb"
    assert files_after[mine] != files[mine]  # made again (nbgrader's --force)
    assert {k: v for k, v in files_after.items() if k != mine} == {k: v for k, v in files.items() if k != mine}
    assert lines_after == lines  # no new line: its grade came from the file
    assert gb == copies["B"]["gradebook"]


def test_autograde_outside_a_course_root_says_where_to_run_it(tmp_path):
    out = attnlab_autograde(tmp_path, L1, env=dict(os.environ))
    assert out.returncode == 2
    assert "no nbgrader_config.py" in out.stderr and "course root" in out.stderr
