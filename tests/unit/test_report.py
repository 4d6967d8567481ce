"""report: the table and the summary people read, the JSON line programs read, the report folder."""

from __future__ import annotations

import json

import pytest
from attnlab.grading.report import json_line, summary, table, write_report
from rich.console import Console


def _result(name: str = "alice.py", **over) -> dict:
    tasks = [
        {
            "id": "qk_scores",
            "score": 10.0,
            "max_score": 15.0,
            "status": "partial",
            "diagnoses": ["missing_scale"],
            "feedback": "Your scores are 8.0x the expected ones.",
            "pending": 1,
        },
        {
            "id": "causal_mask",
            "score": 10.0,
            "max_score": 10.0,
            "status": "passed",
            "diagnoses": [],
            "feedback": "all cases pass.",
            "pending": 0,
        },
    ]
    return {
        "schema": "attnlab.grade/1",
        "submission": name,
        "status": "graded",
        "total": 20.0,
        "max_total": 25.0,
        "tasks": tasks,
        "load_errors": [],
        "output": "",
        **over,
    }


def _shown(draw, *args) -> str:
    console = Console(record=True, width=140)
    draw(*args, console)
    return console.export_text()


@pytest.mark.parametrize("name", ["a[/x]b.py", "[bold]loud.py", "[red]x[/red].ipynb"])
def test_a_file_name_that_looks_like_markup_is_shown_as_it_is(name):
    assert name in _shown(table, _result(name))
    assert name in _shown(summary, [_result(name)])


def test_the_table_shows_scores_the_hint_where_points_were_lost_and_what_is_pending():
    text = _shown(table, _result(load_errors=[{"cell": 3, "type": "NameError", "msg": "name 'x' is not defined"}]))
    assert "alice.py: 20 / 25" in text and "10/15" in text and "missing_scale" in text
    assert "8.0x the expected" in text and "all cases pass" not in text  # no hint for a task that passed
    assert "1 cuda cases are pending" in text
    assert "while loading, cell 3: NameError: name 'x' is not defined" in text


def test_an_unreadable_submission_is_one_line_that_says_why():
    result = {"schema": "attnlab.grade/1", "submission": "bob.ipynb", "status": "unreadable", "reason": "not JSON"}
    assert _shown(table, result).strip() == "bob.ipynb: unreadable: not JSON"
    assert "unreadable: not JSON" in _shown(summary, [result, _result()])


def test_the_json_line_is_one_line_without_the_pictures():
    line = json_line(_result(pictures={"qk_scores": b"\x89PNG"}))
    assert "\n" not in line and "pictures" not in json.loads(line)


def test_the_report_folder_holds_the_json_and_the_pictures_it_names(tmp_path):
    out = write_report(_result(pictures={"qk_scores": b"\x89PNG"}), tmp_path / "reports")
    saved = json.loads(out.read_text())
    assert out.name == "alice.json" and saved["tasks"][0]["picture"] == "alice.qk_scores.png"
    assert (tmp_path / "reports" / "alice.qk_scores.png").read_bytes() == b"\x89PNG"
    assert "picture" not in saved["tasks"][1]
