"""How results look: a rich table for people, one JSON line per submission for programs."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

STYLE = {
    "passed": "green",
    "partial": "yellow",
    "failed": "red",
    "error": "red",
    "timeout": "magenta",
    "missing": "dim",
    "forbidden": "bold red",
}


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
    """One submission's table; for an unreadable one, one line that says why. Student text is never markup."""
    if result.get("status") == "unreadable":
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
    t.add_column("diagnoses and hint", overflow="fold", max_width=width)
    for task in result["tasks"]:
        colour = STYLE.get(task["status"], "")
        diag = ", ".join(task["diagnoses"])
        hint = task["feedback"] if task["status"] != "passed" else ""
        body = (f"[bold]{diag}[/bold]\n" if diag else "") + escape(textwrap.shorten(hint, 600, placeholder=" ..."))
        t.add_row(
            task["id"],
            f"{task['score']:g}/{task['max_score']:g}",
            f"[{colour}]{task['status']}[/{colour}]",
            body.strip(),
        )
    console.print(t)
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
    t.add_column("submission", overflow="fold")
    t.add_column("total", justify="right")
    t.add_column("diagnoses")
    for r in results:
        if r.get("status") == "unreadable":
            t.add_row(escape(_short_path(r["submission"])), "-", f"[red]unreadable[/red]: {escape(r['reason'])}")
            continue
        diags = sorted({d for task in r["tasks"] for d in task["diagnoses"]})
        t.add_row(escape(_short_path(r["submission"])), f"{r['total']:g}/{r['max_total']:g}", ", ".join(diags) or "-")
    console.print(t)
