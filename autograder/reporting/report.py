"""How results look: a rich table for people, one JSON line per submission for programs.

It also holds how any of attnlab's tables reaches its reader, whatever that reader is (`console_for`,
`print_whole`); `attnlab doctor` and `attnlab hub` print theirs the same way.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.segment import Segments
from rich.table import Table

from ..running.results import SubmissionStatus

#: The width of a table where its reader is a log file or a pipe, not a terminal: the project's own line
#: length, which an editor or a CI log shows without folding. A table whose names need more gets more.
FILE_WIDTH = 120

#: Room enough to measure anything on one line.
_ROOMY = 1 << 16

STYLE = {
    "passed": "green",
    "partial": "yellow",
    "failed": "red",
    "error": "red",
    "timeout": "magenta",
    "missing": "dim",
    "forbidden": "bold red",
}


def console_for(stream: TextIO, *, highlight: bool = True) -> Console:
    """A rich Console that suits whoever reads `stream`.

    A terminal (as rich decides it: $TTY_COMPATIBLE and $FORCE_COLOR can say so) gets rich's own console:
    the terminal's width (or $COLUMNS), colours, spinners and bars. Anything else (a log file, a pipe, CI)
    has no width of its own: rich would take the width of the terminal that started the command, or 80
    columns, and wrap every message there. Here a message stays one line however long (grep and `tail -f`
    read it whole), and tables are laid out in `FILE_WIDTH` columns. Either way, print a table with
    `print_whole`, which never cuts one.
    """
    console = Console(file=stream, highlight=highlight)
    if not console.is_terminal:
        console.width = FILE_WIDTH
        console.soft_wrap = True
    return console


def print_whole(console: Console, table: Table) -> None:
    """Print `table` with nothing cut and no word or name broken, at any width.

    rich fits a table into the console by wrapping its cells and, where that is not enough, by folding or
    cutting them ("correct.p" over "y", "nbgrader's comm…"). Here every column first gets the width that its
    content cannot do without: its widest cell where the column is `no_wrap` (file names, task ids,
    log-ins, passwords), else its longest word, so that hints and other prose still wrap, between words;
    the title gets the width of its longest word. The table is then laid out in the console's width, or
    wider where those widths add up to more (a narrow terminal), and printed uncropped: the terminal, not
    rich, folds a line too long for it, and a file keeps it whole. The columns' `min_width` (and a
    `max_width` below it) are raised in place.
    """
    roomy = console.options.update_width(_ROOMY)
    for column in table.columns:
        cells = [column.header, *column.cells] if table.show_header else list(column.cells)
        sizes = [Measurement.get(console, roomy, cell) for cell in cells]
        need = max((size.maximum if column.no_wrap else size.minimum for size in sizes), default=0)
        column.min_width = max(column.min_width or 0, need)
        if column.max_width is not None and column.max_width < need:
            column.max_width = need
    if table.title:
        table.min_width = max(table.min_width or 0, Measurement.get(console, roomy, table.title).minimum)
    width = max(console.width, Measurement.get(console, roomy, table).minimum)
    console.print(Segments(console.render(table, console.options.update_width(width))), crop=False)


def _short_path(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def json_line(result: dict) -> str:
    """One submission's result as one line of JSON (the PNG bytes of "pictures" stay out)."""
    return json.dumps({k: v for k, v in result.items() if k != "pictures"}, separators=(",", ":"))


def write_report(result: dict, folder: Path) -> Path:
    """`folder/<name>.json` and, next to it, `folder/<name>.<task>.png` for each picture; the JSON names them."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(result["submission"]).stem
    for task in result.get("tasks", []):
        png = result.get("pictures", {}).get(task["id"])
        if png:
            name = f"{stem}.{task['id']}.png"
            (folder / name).write_bytes(png)
            task["picture"] = name
    out = folder / f"{stem}.json"
    out.write_text(json_line(result) + "\n")
    return out


def table(result: dict, console: Console, *, width: int = 90) -> None:
    """One submission's table; for an unreadable one, one line that says why. Student text is never markup.
    A hint wraps, between words, at `width` columns at most."""
    if result.get("status") == SubmissionStatus.UNREADABLE:
        console.print(f"[red]{escape(_short_path(result['submission']))}: unreadable[/red]: {escape(result['reason'])}")
        return
    t = Table(
        title=f"{escape(_short_path(result['submission']))}: {result['total']:g} / {result['max_total']:g}",
        title_justify="left",
        show_lines=True,
        expand=False,
    )
    t.add_column("task", no_wrap=True)
    t.add_column("score", justify="right", no_wrap=True)
    t.add_column("status", no_wrap=True)
    t.add_column("diagnoses and hint", max_width=width)  # wraps between words (print_whole)
    for task in result["tasks"]:
        colour = STYLE.get(task["status"], "default")  # a status without a colour of its own is shown plain
        diag = ", ".join(task["diagnoses"])
        hint = task["feedback"] if task["status"] != "passed" else ""
        body = (f"[bold]{diag}[/bold]\n" if diag else "") + escape(textwrap.shorten(hint, 600, placeholder=" ..."))
        t.add_row(
            task["id"],
            f"{task['score']:g}/{task['max_score']:g}",
            f"[{colour}]{task['status']}[/{colour}]",
            body.strip(),
        )
    print_whole(console, t)
    pending = sum(task.get("pending", 0) for task in result["tasks"])
    if pending:
        console.print(f"[dim]{pending} cuda cases are pending: this machine has no GPU.[/dim]")
    for e in result.get("load_errors", []):
        where = f"cell {e['cell']}: " if e.get("cell") else ""
        said = textwrap.shorten(f"{e['type']}: {e['msg']}", 300, placeholder=" ...")
        console.print(f"[dim]while loading, {where}{escape(said)}[/dim]")


def summary(results: list[dict], console: Console) -> None:
    """One row per submission, after several have been graded."""
    t = Table(title="summary", title_justify="left")
    t.add_column("submission", no_wrap=True)  # a name is shown whole, never folded (print_whole)
    t.add_column("total", justify="right", no_wrap=True)
    t.add_column("diagnoses")
    for r in results:
        if r.get("status") == SubmissionStatus.UNREADABLE:
            t.add_row(escape(_short_path(r["submission"])), "-", f"[red]unreadable[/red]: {escape(r['reason'])}")
            continue
        diags = sorted({d for task in r["tasks"] for d in task["diagnoses"]})
        t.add_row(escape(_short_path(r["submission"])), f"{r['total']:g}/{r['max_total']:g}", ", ".join(diags) or "-")
    print_whole(console, t)
