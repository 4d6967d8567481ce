"""`attnlab.reporting.class_report` over made-up results records: no child process, no browser.

The class: alice got everything right; bob and carol forgot sqrt(d), and bob's attention was blocked by his
qk_scores; dave called a forbidden function; erin's attention timed out; frank's softmax crashed the process in
two tasks; gina's notebook was unreadable; and a student named ``<script>`` tried their luck with the page.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from attnlab.judging.diagnose import CATALOGUE, Diagnosis
from attnlab.reporting.class_report import (
    CSP,
    NBGRADER_COLUMNS,
    blocked_tasks,
    diagnosis_counts,
    hint,
    look_first,
    student_rows,
    write_class_report,
)

HOSTILE = "<script>alert(1)</script>"
POINTS = {"qk_scores": 15.0, "softmax_with_temperature": 20.0, "attention": 20.0}


def task(tid: str, score: float | None = None, status: str = "passed", diagnoses=(), feedback="", cases=()) -> dict:
    top = POINTS[tid]
    return {
        "id": tid,
        "score": top if score is None else score,
        "max_score": top,
        "status": status,
        "diagnoses": list(diagnoses),
        "pending": 0,
        "feedback": feedback or "all cases pass.",
        "cases": [{"id": f"v{i}", "status": s, "diagnoses": []} for i, s in enumerate(cases or ["passed"])],
    }


def record(student: str, *tasks: dict, assignment: str | None = "lesson3", key: str | None = None) -> dict:
    """A results line for `student`, the tasks not given passed in full."""
    given = {t["id"]: t for t in tasks}
    all_tasks = [given.get(tid) or task(tid) for tid in POINTS]
    path = f"submitted/{student}/{assignment}/{assignment}.ipynb"
    result = {
        "schema": "attnlab.grade/1",
        "submission": path,
        "status": "graded",
        "total": sum(t["score"] for t in all_tasks),
        "max_total": sum(POINTS.values()),
        "tasks": all_tasks,
        "load_errors": [],
        "output": "",
    }
    return {"schema": "attnlab.results/1", "key": key or f"{student}/{assignment}", "path": path, "student": student,
            "assignment": assignment, "result": result}  # fmt: skip


def unreadable(student: str, reason: str) -> dict:
    path = f"submitted/{student}/lesson3/lesson3.ipynb"
    result = {"schema": "attnlab.grade/1", "submission": path, "status": "unreadable", "reason": reason}
    return {"schema": "attnlab.results/1", "key": student, "path": path, "student": student, "assignment": "lesson3",
            "result": result}  # fmt: skip


def blocked_message(tid: str, callee: str) -> str:
    return Diagnosis.make("blocked_by_callee", task=tid, n=2, callee=callee, what="is wrong").message


MISSING_SCALE = task("qk_scores", 3.33, "partial", ["missing_scale"], "Your scores are 8.0x the expected ones.")
BLOCKED = task("attention", 10.0, "partial", ["blocked_by_callee"], blocked_message("attention", "qk_scores"))


@pytest.fixture
def records() -> list[dict]:
    return [
        record("alice"),
        record("bob", MISSING_SCALE, BLOCKED),
        record("carol", MISSING_SCALE, task("softmax_with_temperature", 15.0, "partial", ["unstable_softmax"])),
        record("dave", task("softmax_with_temperature", 0.0, "forbidden", ["forbidden_call"])),
        record("erin", task("attention", 0.0, "timeout", ["timeout"], cases=["passed", "timeout"])),
        record(
            "frank",
            task("softmax_with_temperature", 0.0, "error", ["crashed", "exception"], cases=["crashed"]),
            task("attention", 0.0, "error", ["exception"], "On v0, your code raised RuntimeError.", ["failed"]),
        ),
        unreadable("gina", "is not valid notebook JSON; open it in Jupyter and save it again"),
        record(
            HOSTILE, MISSING_SCALE, task("attention", 0.0, "failed", ["wrong_values"], "<img src=x onerror=alert(2)>")
        ),
    ]


# ------------------------------------------------------------------------------------------------ diagnoses
def test_diagnoses_come_most_common_first_with_their_count_and_share_of_students(records):
    counts = diagnosis_counts(student_rows(records))
    assert [(d.id, d.count, d.students) for d in counts[:2]] == [("missing_scale", 3, 3), ("exception", 2, 1)]
    assert counts[0].share == pytest.approx(3 / 8)  # 8 students, gina's unreadable notebook among them
    assert counts[0].tasks == {"qk_scores": 3}
    keys = [(-d.count, -d.students, d.id) for d in counts]
    assert keys == sorted(keys)
    assert {d.id for d in counts} == {
        "missing_scale", "exception", "blocked_by_callee", "unstable_softmax", "forbidden_call", "timeout", "crashed",
        "wrong_values",
    }  # fmt: skip


def test_a_diagnosis_named_in_two_tasks_of_one_student_counts_twice_but_one_student(records):
    exception = next(d for d in diagnosis_counts(student_rows(records)) if d.id == "exception")
    assert (exception.count, exception.students, exception.tasks) == (
        2,
        1,
        {"softmax_with_temperature": 1, "attention": 1},
    )


def test_each_hint_is_the_catalogues_message_with_its_blanks_named(records):
    for d in diagnosis_counts(student_rows(records)):
        assert d.hint == hint(d.id)
        literal = CATALOGUE[d.id][1].split("{")[-1].split("}")[-1]  # the text after the last blank
        assert d.hint.endswith(literal) and "{" not in d.hint
    assert hint("missing_scale").startswith("Your scores are ‹ratio›x the expected ones everywhere")
    assert hint("no_such_diagnosis") == ""


def test_an_example_is_kept_only_where_the_diagnosis_was_the_tasks_only_one(records):
    counts = {d.id: d for d in diagnosis_counts(student_rows(records))}
    assert counts["missing_scale"].example == "Your scores are 8.0x the expected ones."
    assert counts["exception"].example == "On v0, your code raised RuntimeError."  # frank's attention
    assert counts["crashed"].example == ""  # named only beside exception


# -------------------------------------------------------------------------------------------------- blocked
def test_the_blocked_table_names_the_callee_from_the_message(records):
    records.append(record("hugo", BLOCKED))
    assert blocked_tasks(student_rows(records)) == [("qk_scores", "attention", 2)]


def test_a_blocked_task_whose_message_is_gone_is_charged_to_its_callee_that_failed():
    quiet = task("attention", 10.0, "partial", ["blocked_by_callee"], "Something else.")
    failing = task("softmax_with_temperature", 0.0, "failed", ["wrong_dim"])
    assert blocked_tasks(student_rows([record("ivy", quiet, failing)])) == [
        ("softmax_with_temperature", "attention", 1)
    ]


# ---------------------------------------------------------------------------------------------- look first
def test_look_first_names_unreadable_forbidden_timeout_and_crash_each_in_words(records):
    concerns = look_first(student_rows(records), lowest=0)
    said = {c.row.student: c.reasons for c in concerns}
    assert said == {
        "gina": ["unreadable: is not valid notebook JSON; open it in Jupyter and save it again"],
        "dave": ["forbidden call in softmax_with_temperature"],
        "erin": ["timed out in attention"],
        "frank": ["crashed in softmax_with_temperature"],
    }
    assert concerns[0].row.student == "gina"  # unreadable first, then the lowest total first
    assert [c.row.student for c in concerns[1:]] == ["frank", "dave", "erin"]  # dave and erin: 35 each


def test_look_first_adds_the_lowest_totals_below_the_median_only():
    attention = [5.0, 10.0, 0.0, 20.0, 20.0, 20.0]  # totals 40, 45, 35, 55, 55, 55: the median is 50
    records = [record(f"s{i}", task("attention", a)) for i, a in enumerate(attention)]
    low = {c.row.student: c.reasons for c in look_first(student_rows(records), lowest=2)}
    assert low == {"s2": ["among the lowest totals"], "s0": ["among the lowest totals"]}
    everyone_right = [record(f"s{i}") for i in range(4)]
    assert look_first(student_rows(everyone_right)) == []


# ------------------------------------------------------------------------------------------------- the rows
def test_a_resubmission_replaces_the_earlier_line_and_a_missing_student_is_the_file_stem():
    first = record("bob", MISSING_SCALE, key="k1")
    second = record("bob", key="k2")
    nameless = record("x", key="k3") | {"student": None, "path": "work/zoe_final.py"}
    rows = student_rows([first, second, nameless])
    assert [(r.student, r.total) for r in rows] == [("bob", 55.0), ("zoe_final", 55.0)]
    assert [r.total for r in student_rows([second, first])] == [43.33]


def test_of_two_files_for_one_assignment_the_best_graded_one_stands_for_the_student():
    notebook = record("bob", MISSING_SCALE)
    script = record("bob") | {"key": "k2", "path": "submitted/bob/lesson3/helper.py"}
    broken = unreadable("bob", "no such file") | {"path": "submitted/bob/lesson3/old.ipynb"}
    assert [(r.path, r.total) for r in student_rows([script, notebook, broken])] == [(script["path"], 55.0)]


# ----------------------------------------------------------------------------------------------------- CSV
def read_csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_students_csv_has_nbgraders_columns_then_the_tasks_then_the_diagnoses(records, tmp_path):
    records.append(record("bob", assignment="lesson4"))
    records.append(record("=HYPERLINK(1)"))
    write_class_report(records, tmp_path)
    with (tmp_path / "students.csv").open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header == [*NBGRADER_COLUMNS, "qk_scores", "softmax_with_temperature", "attention", "diagnoses"]
    rows = {(r["student_id"], r["assignment"]): r for r in read_csv(tmp_path / "students.csv")}
    assert len(rows) == 10  # bob twice, one row per assignment
    bob = rows[("bob", "lesson3")]
    assert (bob["raw_score"], bob["score"], bob["max_score"]) == ("33.33", "33.33", "55")
    assert (bob["qk_scores"], bob["attention"], bob["diagnoses"]) == ("3.33", "10", "missing_scale;blocked_by_callee")
    assert (bob["duedate"], bob["timestamp"], bob["email"], bob["late_submission_penalty"]) == ("", "", "", "")
    assert rows[("bob", "lesson4")]["score"] == "55"
    assert rows[("frank", "lesson3")]["diagnoses"] == "crashed;exception"
    assert (rows[("gina", "lesson3")]["score"], rows[("gina", "lesson3")]["qk_scores"]) == ("", "")
    assert ("'=HYPERLINK(1)", "lesson3") in rows  # a spreadsheet shows it, and runs nothing


def test_diagnoses_csv_lists_each_diagnosis_with_its_count_share_and_hint(records, tmp_path):
    write_class_report(records, tmp_path)
    rows = read_csv(tmp_path / "diagnoses.csv")
    assert list(rows[0]) == ["diagnosis", "count", "students", "share", "hint"]
    assert rows[0] == {
        "diagnosis": "missing_scale",
        "count": "3",
        "students": "3",
        "share": "0.375",
        "hint": hint("missing_scale"),
    }
    assert [r["diagnosis"] for r in rows] == [d.id for d in diagnosis_counts(student_rows(records))]


# ---------------------------------------------------------------------------------------------------- page
def test_the_page_escapes_what_a_student_wrote(records, tmp_path):
    page = write_class_report(records, tmp_path).read_text(encoding="utf-8")
    assert "<script" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page  # the feedback quoted as wrong_values' example


def test_the_page_shows_its_pictures_from_beside_it_and_fetches_nothing(records, tmp_path):
    page = write_class_report(records, tmp_path, title="Lesson 3 <draft>")
    text = page.read_text(encoding="utf-8")
    assert page == tmp_path / "index.html"
    assert "<title>Lesson 3 &lt;draft&gt;</title>" in text
    sources = [part.split('"', 1)[0] for part in text.split('<img src="')[1:]]
    assert len(sources) == 1 + 1 + len(POINTS)  # the diagnoses, the total, each task
    for name in sources:
        assert "/" not in name and (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "://" not in text and '="//' not in text and "<script" not in text


def test_the_page_tells_the_browser_to_run_no_script_and_fetch_nothing_else(records, tmp_path):
    """Defence in depth behind the escaping: the page's own Content-Security-Policy."""
    text = write_class_report(records, tmp_path).read_text(encoding="utf-8")
    head = text.split("</head>", 1)[0]
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in head
    rules = dict(rule.strip().split(" ", 1) for rule in CSP.split(";"))
    assert rules["default-src"] == "'none'"  # so no script-src: no script of any kind runs
    assert "script-src" not in rules and rules["img-src"] == "'self' data:"


def test_an_empty_results_file_still_makes_a_page(tmp_path):
    text = write_class_report([], tmp_path).read_text(encoding="utf-8")
    assert "No graded submission" in text and "No diagnoses" in text
    assert read_csv(tmp_path / "students.csv") == []
