"""Output that fits its reader: `console_for`, `print_whole`, and `attnlab hub`'s log-ins and set-up steps,
rendered into strings. A file or a pipe gets plain lines; no table is cut, nor breaks a name or a word, at
any width. No child process: the report's own tables are pinned in test_report.py."""

from __future__ import annotations

import io
import re
import secrets

import pytest
from attnlab.hub.launch import STEP_PREFIX, describe, steps
from attnlab.hub.plan import make_plan
from attnlab.reporting.report import FILE_WIDTH, console_for, print_whole
from rich.console import Console
from rich.table import Table

NAME = "submissions/alice/lesson1_qk_scores/a_rather_long_folder_name/lesson1_qk_scores.ipynb"  # 75 characters
PROSE = "did you forget to divide the scores by the square root of d? compare the mean magnitude of each row"
ROLE = "instructor (admin): formgrader, nbgrader's command line"


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch):
    """rich reads these to decide what a terminal is and how wide it is; the tests say it themselves."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class FlushLog(io.StringIO):
    """A stream that keeps what had been written at each flush."""

    def __init__(self):
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        self.flushed.append(self.getvalue())


def _tokens(text: str) -> set[str]:
    """The words a reader sees, wherever the lines and the table's borders fall."""
    return set(re.split(r"[\s│┃]+", text))


def _on_one_line(text: str, part: str) -> bool:
    return any(part in line for line in text.splitlines())


def _table(name: str = NAME, title: str | None = None) -> Table:
    table = Table(title=title)
    table.add_column("submission", no_wrap=True)
    table.add_column("hint")
    table.add_row(name, PROSE)
    table.add_row("bob.py", "all cases pass")
    return table


def _console(width: int | None) -> Console:
    """None: a log file, as `console_for` makes it; else a console that wide (a terminal, a narrow one)."""
    return console_for(io.StringIO()) if width is None else Console(file=io.StringIO(), width=width)


def test_a_file_or_a_pipe_gets_tables_in_file_width_and_each_message_on_one_line():
    console = console_for(io.StringIO())
    assert not console.is_terminal and console.width == FILE_WIDTH
    console.print(" ".join([PROSE] * 4))  # 400 characters
    assert console.file.getvalue().count("\n") == 1


def test_a_terminal_keeps_its_own_width_and_wraps_messages_there(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    console = console_for(Tty())
    assert console.is_terminal and console.width == 60
    console.print(PROSE)
    assert all(len(line) <= 60 for line in console.file.getvalue().splitlines())


@pytest.mark.parametrize("width", [None, 80, 60, 30])
def test_a_name_stays_whole_and_prose_wraps_only_between_words_at_any_width(width):
    console = _console(width)
    print_whole(console, _table())
    text = console.file.getvalue()
    assert _on_one_line(text, NAME), text
    assert set(PROSE.split()) <= _tokens(text), text
    assert "…" not in text


def test_rich_alone_would_cut_the_same_table_at_that_width():
    """The control twin: printed by rich alone, the name is folded in two, which is what print_whole prevents."""
    console = Console(file=io.StringIO(), width=60)
    console.print(_table())
    assert not _on_one_line(console.file.getvalue(), NAME)


def test_a_title_that_names_a_file_stays_whole():
    console = Console(file=io.StringIO(), width=30)
    print_whole(console, _table(title=f"{NAME}: 20 / 25"))
    assert _on_one_line(console.file.getvalue(), NAME)


def test_a_word_longer_than_its_columns_max_width_is_not_folded():
    table = Table()
    table.add_column("hint", max_width=10)
    table.add_row("see scaled_dot_product_attention's docs")
    console = Console(file=io.StringIO(), width=80)
    print_whole(console, table)
    assert _on_one_line(console.file.getvalue(), "scaled_dot_product_attention's")


@pytest.mark.parametrize("width", [80, 60, 40])
def test_a_table_that_can_fit_the_console_is_no_wider_than_it(width):
    console = _console(width)
    print_whole(console, _table("alice.py"))
    lines = console.file.getvalue().splitlines()
    assert max(len(line) for line in lines) <= width
    assert len(lines) > 6  # more than the borders, the header and two rows: the hint wrapped to fit


# ------------------------------------------------------------------------------------- attnlab hub's output


def _describe(tmp_path, console: Console) -> tuple[str, dict[str, str]]:
    plan = make_plan(
        root=tmp_path / "root",
        students="alice,bob",
        instructor="teacher",
        course_id="attnlab-attention",
        system_users=False,
    )
    logins = {"alice": "student-pass-1", "bob": "student-pass-1", "teacher": secrets.token_urlsafe(32)}
    describe(plan, logins, console)
    return console.file.getvalue(), logins


def test_the_log_ins_table_in_a_log_file_keeps_each_row_on_one_line(tmp_path):
    text, logins = _describe(tmp_path, _console(None))
    row = next(line for line in text.splitlines() if logins["teacher"] in line)
    assert ROLE in row and "teacher" in row, text
    assert all(len(line) <= FILE_WIDTH for line in text.splitlines() if "│" in line)


@pytest.mark.parametrize("width", [80, 60, 30])
def test_the_log_ins_table_on_a_narrow_terminal_keeps_each_password_whole(tmp_path, width):
    text, logins = _describe(tmp_path, _console(width))
    assert _on_one_line(text, logins["teacher"]) and _on_one_line(text, "student-pass-1"), text
    assert set(ROLE.split()) <= _tokens(text) and "…" not in text, text


def test_set_up_steps_in_a_log_file_are_plain_lines_each_flushed_as_it_is_said():
    stream = FlushLog()
    with steps(console_for(stream), "setting up the course") as say:
        say("building the student wheel")
        say("Requirement already satisfied: attnlab[hub] in [/x]")  # pip's own words, brackets and all
    lines = [
        "setting up the course",
        "building the student wheel",
        "Requirement already satisfied: attnlab[hub] in [/x]",
    ]
    assert stream.getvalue().splitlines() == [STEP_PREFIX + line for line in lines]
    for line in lines:  # each was on its way to the file before the next step began
        assert any(seen.endswith(STEP_PREFIX + line + "\n") for seen in stream.flushed), line


def test_on_a_terminal_set_up_steps_are_a_spinner_that_takes_pips_brackets_as_text():
    console = Console(file=io.StringIO(), force_terminal=True, width=80)
    with steps(console, "setting up the course") as say:
        say("Requirement already satisfied: attnlab[hub] in [/x]")
    assert STEP_PREFIX not in console.file.getvalue()
