"""report: the table and the summary people read, the JSON line programs read, the report folder."""

from __future__ import annotations

import io
import json
import re

import pytest
from attnlab.reporting.report import console_for, json_line, summary, table, write_report
from rich.console import Console

LONG_NAME = "submitted/alice/lesson1_qk_scores/a_rather_long_folder_name/correct.py"


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


def _shown_at(width: int | None, draw, *args) -> str:
    """As printed to a log file (`width` None: `console_for` a stream that is not a terminal) or a console that
    wide (a terminal, a narrow one)."""
    console = console_for(io.StringIO()) if width is None else Console(file=io.StringIO(), width=width)
    draw(*args, console)
    return console.file.getvalue()


def _on_one_line(text: str, part: str) -> bool:
    return any(part in line for line in text.splitlines())


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


@pytest.mark.parametrize("width", [None, 80, 60, 40])
def test_the_summary_shows_each_file_name_whole_in_a_file_a_pipe_or_a_narrow_terminal(width, monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    text = _shown_at(width, summary, [_result(LONG_NAME), _result("correct.py")])
    assert _on_one_line(text, LONG_NAME) and _on_one_line(text, "correct.py"), text
    assert "…" not in text


@pytest.mark.parametrize("width", [None, 60, 40])
def test_the_table_keeps_its_title_whole_and_wraps_a_long_hint_only_between_words(width, monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    hint = "Your scores are 8.0x the expected ones everywhere. 8.0 = sqrt(64): did you forget to divide by sqrt(d)?"
    result = _result(LONG_NAME)
    result["tasks"][0]["feedback"] = hint
    text = _shown_at(width, table, result)
    assert _on_one_line(text, LONG_NAME) and _on_one_line(text, "qk_scores"), text
    assert set(hint.split()) <= set(re.split(r"[\s│┃]+", text)), text


def test_a_status_without_a_colour_of_its_own_is_shown_plain():
    result = _result()
    result["tasks"][1]["status"] = "a_status_added_later"
    assert "a_status_added_later" in _shown(table, result)
