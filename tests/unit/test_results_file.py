"""The results file and the class run's rules, without a child process: keys, torn lines, order, reuse."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from attnlab.course import load_course
from attnlab.running import classrun
from attnlab.running.classrun import ClassRun, digest
from attnlab.running.found import Found, expand
from attnlab.running.results import (
    ResultsFile,
    course_hash,
    latest,
    make_record,
    read_records,
    record_key,
)
from attnlab.running.submission import Submission, Unreadable


@pytest.fixture(scope="module")
def course():
    return load_course()


def _record(key: str, path: str = "a.py", total: float = 1.0, **extra) -> dict:
    result = {"schema": "attnlab.grade/1", "submission": path, "status": "graded", "total": total, "tasks": []}
    return make_record(key, "s" * 64, "c" * 64, 7, ["qk_scores"], Found(Path(path), **extra), result)


def test_every_part_of_the_key_changes_it():
    base = ("a" * 64, "b" * 64, 7, ["qk_scores", "attention"], "0.1.0")
    keys = {
        record_key(*base),
        record_key("c" * 64, *base[1:]),
        record_key(base[0], "d" * 64, *base[2:]),
        record_key(*base[:2], 8, *base[3:]),
        record_key(*base[:3], ["attention", "qk_scores"], base[4]),
        record_key(*base[:4], "0.2.0"),
    }
    assert len(keys) == 6
    assert record_key(*base) == record_key(*base)


def test_the_course_hash_follows_every_setting(course):
    other = course.model_copy(update={"public_seed": course.public_seed + 1})
    assert course_hash(course) == course_hash(load_course())
    assert course_hash(other) != course_hash(course)


def test_what_is_graded_makes_the_digest_and_nothing_else():
    a = Submission(Path("x/alice.ipynb"), ["def f():\n    return 1", ""], notebook=True, shown={"cells": []})
    same_code_elsewhere = Submission(Path("y/bob.ipynb"), list(a.cells), notebook=True, shown={"cells": [1]})
    assert digest(a) == digest(same_code_elsewhere)
    assert digest(a) != digest(Submission(a.path, ["def f():\n    return 2", ""], notebook=True))
    assert digest(a) != digest(Submission(a.path, list(a.cells), notebook=False))
    assert digest(Unreadable(Path("a.ipynb"), "not JSON")) != digest(Unreadable(Path("b.ipynb"), "not JSON"))


def test_lines_survive_a_reopen_and_a_torn_last_line_is_cut_off(tmp_path, capsys):
    path = tmp_path / "r.jsonl"
    with ResultsFile(path) as f:
        f.append(_record("k1"))
        f.append(_record("k2", "b.py"))
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"schema": "attnlab.results/1", "key": "k3", "res')  # killed mid-write
    with ResultsFile(path) as f:
        assert set(f.records) == {("k1", "a.py"), ("k2", "b.py")}
        f.append(_record("k3", "c.py"))
    assert "cut off" in capsys.readouterr().err
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 3 and all(line.endswith(b"\n") for line in lines)
    assert [r["key"] for r in read_records(path)] == ["k1", "k2", "k3"]


def test_a_file_that_is_not_a_results_file_is_refused_before_anything_is_written(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text('{"hello": 1}\n')
    with pytest.raises(ValueError, match=r"line 1 is not an attnlab results line"):
        ResultsFile(path)
    assert path.read_text() == '{"hello": 1}\n'


def test_the_newest_record_of_a_submission_stands_for_it():
    records = [
        _record("k1", "a.py", 1.0),
        _record("k2", "b.py", 2.0),
        _record("k3", "a.py", 3.0),
        _record("k4", "/x/submitted/al/l1/n.ipynb", 4.0, student="al", assignment="l1"),
        _record("k5", "submitted/al/l1/n.ipynb", 5.0, student="al", assignment="l1"),
    ]
    assert [r["result"]["total"] for r in latest(records)] == [3.0, 2.0, 5.0]


def test_folders_expand_in_a_stable_order_and_name_nbgrader_students(tmp_path):
    for rel in [
        "submitted/bob/lesson1/lesson1.ipynb",
        "submitted/alice/lesson1/lesson1.ipynb",
        "submitted/alice/lesson1/.ipynb_checkpoints/lesson1-checkpoint.ipynb",
        "loose/zed.py",
        "loose/notes.txt",
        "loose/__pycache__/zed.py",
    ]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    found = expand([str(tmp_path), str(tmp_path / "missing.py")])
    assert [f.path.relative_to(tmp_path).as_posix() for f in found[:3]] == [
        "loose/zed.py",
        "submitted/alice/lesson1/lesson1.ipynb",
        "submitted/bob/lesson1/lesson1.ipynb",
    ]
    assert [(f.student, f.assignment) for f in found] == [
        ("zed", None),
        ("alice", "lesson1"),
        ("bob", "lesson1"),
        ("missing", None),
    ]


class _FakeZygote:
    def ready(self):
        return {}

    def close(self):
        pass


def _run(tmp_path, course, n: int, jobs: int, results=None, pictures=False) -> ClassRun:
    found = [Found(tmp_path / f"s{i}.py", f"s{i}") for i in range(n)]
    subs = {f.path: Submission(f.path, [f"x = {i}"], notebook=False) for i, f in enumerate(found)}
    return ClassRun(
        found, course=course, seed=3, jobs=jobs, results=results, pictures=pictures, read=lambda f: subs[f.path]
    )


def test_results_come_out_in_input_order_whatever_the_order_they_finish(tmp_path, course, monkeypatch):
    run = _run(tmp_path, course, n=6, jobs=3)
    graded = []

    def grade_one(item, zygote):
        time.sleep(0.05 * (6 - item.index))  # the later ones finish first
        graded.append(item.index)
        return {"status": "graded", "submission": item.sub.name, "total": float(item.index), "tasks": []}

    monkeypatch.setattr(run, "grade_one", grade_one)
    emitted = []
    results = run.grade(_FakeZygote(), emit=lambda item, r: emitted.append(item.index))
    assert emitted == list(range(6))
    assert [r["total"] for r in results] == [float(i) for i in range(6)]
    assert graded != sorted(graded)  # they did run side by side


def test_a_rerun_grades_only_what_is_missing_and_writes_each_line_once(tmp_path, course, monkeypatch):
    path = tmp_path / "r.jsonl"
    calls = []
    lock = threading.Lock()

    def grade_one(item, zygote):
        with lock:
            calls.append(item.index)
        return {"status": "graded", "submission": item.sub.name, "total": 1.0, "tasks": [], "pictures": {"t": b"P"}}

    with ResultsFile(path) as f:
        first = _run(tmp_path, course, n=4, jobs=2, results=f)
        monkeypatch.setattr(first, "grade_one", grade_one)
        first.items = first.items[:2]  # a run that stopped half way
        first.grade(_FakeZygote())
    with ResultsFile(path) as f:
        again = _run(tmp_path, course, n=4, jobs=2, results=f)
        monkeypatch.setattr(again, "grade_one", grade_one)
        assert [i.index for i in again.todo] == [2, 3]
        out = again.grade(_FakeZygote())
    assert sorted(calls) == [0, 1, 2, 3]
    assert [r["student"] for r in out] == ["s0", "s1", "s2", "s3"]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 4 and len({r["key"] for r in lines}) == 4
    assert all("pictures" not in r["result"] for r in lines)  # PNGs go in "pictures", base64, not in the result


def test_a_stored_line_without_pictures_is_graded_again_when_pictures_are_wanted(tmp_path, course):
    with ResultsFile(tmp_path / "r.jsonl") as f:
        run = _run(tmp_path, course, n=2, jobs=1, results=f)
        lost = {"status": "graded", "submission": "s0.py", "tasks": [{"id": "qk_scores", "score": 1, "max_score": 15}]}
        full = {"status": "graded", "submission": "s1.py", "tasks": [{"id": "qk_scores", "score": 15, "max_score": 15}]}
        for item, result in zip(run.items, (lost, full)):
            run.keep(item, result)
        wanting = _run(tmp_path, course, n=2, jobs=1, results=f, pictures=True)
        assert [i.index for i in wanting.todo] == [0]  # s1 lost nothing: it has nothing to draw
        assert _run(tmp_path, course, n=2, jobs=1, results=f).todo == []


def test_default_jobs_is_the_cores_this_process_may_use():
    assert classrun.default_jobs() >= 1


def test_two_students_with_the_same_code_get_a_line_each_from_one_grade(tmp_path, course, monkeypatch):
    found = [Found(tmp_path / "ann.py", "ann"), Found(tmp_path / "ben.py", "ben"), Found(tmp_path / "cy.py", "cy")]
    code = {"ann": "x = 1", "ben": "x = 1", "cy": "x = 2"}
    calls = []

    def run(results):
        r = ClassRun(
            found,
            course=course,
            seed=3,
            jobs=1,
            results=results,
            read=lambda f: Submission(f.path, [code[f.student]], notebook=False),
        )
        monkeypatch.setattr(
            r, "grade_one", lambda item, z: calls.append(item.where.student) or {"status": "graded", "tasks": []}
        )
        return r

    path = tmp_path / "r.jsonl"
    with ResultsFile(path) as f:
        first = run(f)
        first.items = first.items[:1]  # ann is graded, then the run stops
        first.grade(_FakeZygote())
    with ResultsFile(path) as f:
        out = run(f).grade(_FakeZygote())
    assert calls == ["ann", "cy"]  # ben's code is ann's: not graded again
    assert [r["student"] for r in out] == ["ann", "ben", "cy"]
    assert sorted(r["student"] for r in read_records(path)) == ["ann", "ben", "cy"]
    with ResultsFile(path) as f:
        run(f).grade(_FakeZygote())
    assert len(path.read_text().splitlines()) == 3 and calls == ["ann", "cy"]
