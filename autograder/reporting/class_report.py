"""The class report: one static HTML page over a class run's results, for the teacher.

    attnlab report results.jsonl --out report/

`write_class_report` takes the records of a results file (``attnlab.running.results.read_records``) and
writes into its folder:

- ``index.html``: one page, no script, nothing fetched from elsewhere. It shows whom to look at first
  (unreadable files, forbidden calls, timeouts, crashes, the lowest totals), the diagnoses across the class
  with the catalogue's hint for each, which tasks a failing callee blocked, and the score distribution of
  the total and of each task;
- the PNG charts it shows, drawn on matplotlib's Agg canvas (no pyplot, no display, no global state);
- ``students.csv``: one row per student and assignment, with the columns of ``nbgrader export`` first, then
  one column per task id and a ``diagnoses`` column, ready for an LMS; ``diagnoses.csv``: one row per diagnosis.

Nothing here judges or runs student code: it counts what the grader already wrote. Every text that came
from a submission (its path, the student's name, feedback quoting their code) is HTML-escaped on the page,
whose Content-Security-Policy (`CSP`) lets no script run and nothing load but its own pictures; a CSV
cell that a spreadsheet would read as a formula is quoted.
"""

from __future__ import annotations

import csv
import html
import re
import statistics
import textwrap
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from string import Formatter

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..judging.diagnose import CATALOGUE
from ..running.results import SubmissionStatus
from ..tasks import TASK_IDS, TASKS

#: The columns of ``nbgrader export`` (its CSV exporter), in its order; students.csv starts with them.
NBGRADER_COLUMNS = (
    "assignment",
    "duedate",
    "timestamp",
    "student_id",
    "last_name",
    "first_name",
    "email",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
)
DIAGNOSES_COLUMNS = ("diagnosis", "count", "students", "share", "hint")
LOWEST = 5  # how many of the lowest totals the look-first table names
CHART_TOP = 20  # diagnoses in the bar chart
BLUE, ORANGE = "#3b6ea8", "#d9822b"


# ------------------------------------------------------------------------------------------ what is counted
@dataclass
class StudentRow:
    """One student's submission for one assignment: the result's fields a report needs."""

    student: str
    assignment: str  # "" where the folder layout names none
    path: str
    status: SubmissionStatus
    total: float | None = None
    max_total: float | None = None
    tasks: list[dict] = field(default_factory=list)  # the result's task objects, as `attnlab grade --json` wrote them
    reason: str = ""  # why an unreadable file could not be read

    @property
    def fraction(self) -> float:
        """total / max_total; 0 for an unreadable file."""
        return (self.total or 0.0) / self.max_total if self.max_total else 0.0


@dataclass
class DiagnosisCount:
    """One diagnosis across the class."""

    id: str
    count: int  # the (submission, task) pairs it was named in
    students: int  # the students it was named for
    share: float  # students / every student in the records
    hint: str  # the catalogue's message, its blanks shown as ‹name›
    tasks: dict[str, int]  # task id -> count
    example: str = ""  # one student's feedback where it was the task's only diagnosis (so the whole message)


@dataclass
class Concern:
    """A row the teacher should open first, and why, in words."""

    row: StudentRow
    reasons: list[str]


def student_rows(records: list[dict]) -> list[StudentRow]:
    """records (results lines) -> one StudentRow per student and assignment, sorted by student then assignment.

    Of several lines for one file the last wins (a resubmission); of several files one student handed in for one
    assignment, the best graded one. A record without a student is the file's stem's.
    """
    latest: dict[tuple[str, str, str], StudentRow] = {}
    for record in records:
        row = _row(record)
        latest[(row.student, row.assignment, row.path)] = row
    best: dict[tuple[str, str], StudentRow] = {}
    for row in latest.values():
        key = (row.student, row.assignment)
        if key not in best or _rank(row) >= _rank(best[key]):
            best[key] = row
    return sorted(best.values(), key=lambda r: (r.student, r.assignment))


def _row(record: dict) -> StudentRow:
    result = record.get("result") or {}
    path = str(record.get("path") or result.get("submission") or "")
    student = str(record.get("student") or Path(path).stem or "?")
    assignment = str(record.get("assignment") or "")
    if result.get("status") != SubmissionStatus.GRADED:
        reason = str(result.get("reason") or f"its result says {result.get('status')!r}")
        return StudentRow(student, assignment, path, SubmissionStatus.UNREADABLE, reason=reason)
    total, top = float(result.get("total") or 0.0), float(result.get("max_total") or 0.0)
    return StudentRow(student, assignment, path, SubmissionStatus.GRADED, total, top, list(result.get("tasks") or []))


def _rank(row: StudentRow) -> tuple[bool, float]:
    return row.status == SubmissionStatus.GRADED, row.fraction


def hint(did: str) -> str:
    """A diagnosis id -> the catalogue's message for it, as a student reads it, each blank that the grader fills
    per student shown as ‹name›; "" for an id the catalogue does not know."""
    if did not in CATALOGUE:
        return ""
    text = ""
    for literal, name, _spec, _conversion in Formatter().parse(CATALOGUE[did][1]):
        text += literal + (f"‹{name}›" if name is not None else "")
    first = text.split(" ", 1)[0]
    if text[:1].islower() and "_" not in first and "(" not in first:  # as the judge does: never a function's name
        text = text[0].upper() + text[1:]
    return text


def diagnosis_counts(rows: list[StudentRow]) -> list[DiagnosisCount]:
    """rows -> each diagnosis named in a task, most common first (by count, then students, then id)."""
    counts: Counter[str] = Counter()
    tasks: dict[str, Counter[str]] = defaultdict(Counter)
    who: dict[str, set[str]] = defaultdict(set)
    examples: dict[str, str] = {}
    for row in rows:
        for task in row.tasks:
            ids = list(dict.fromkeys(task.get("diagnoses") or []))
            for did in ids:
                counts[did] += 1
                tasks[did][task.get("id", "?")] += 1
                who[did].add(row.student)
            if len(ids) == 1:
                examples.setdefault(ids[0], str(task.get("feedback") or ""))
    n = len({r.student for r in rows}) or 1
    out = [
        DiagnosisCount(did, c, len(who[did]), len(who[did]) / n, hint(did), dict(tasks[did]), examples.get(did, ""))
        for did, c in counts.items()
    ]
    return sorted(out, key=lambda d: (-d.count, -d.students, d.id))


def blocked_tasks(rows: list[StudentRow]) -> list[tuple[str, str, int]]:
    """rows -> (callee, blocked task, students) for each task a callee blocked (``blocked_by_callee``), most
    students first, then in course order."""
    who: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in rows:
        statuses = {t.get("id"): t.get("status") for t in row.tasks}
        for task in row.tasks:
            if "blocked_by_callee" in (task.get("diagnoses") or []):
                who[(_callee(task, statuses), task.get("id", "?"))].add(row.student)
    order = {t: i for i, t in enumerate(TASK_IDS)}
    out = [(callee, task, len(students)) for (callee, task), students in who.items()]
    return sorted(out, key=lambda b: (-b[2], order.get(b[0], len(order)), order.get(b[1], len(order)), b))


def _callee(task: dict, statuses: dict) -> str:
    """The callee that blocked `task`: the one its blocked_by_callee message names, else the first of its callees
    that did not pass in the same submission, else "?"."""
    spec = TASKS.get(task.get("id"))
    callees = spec.callees if spec else tuple(t for t in statuses if t != task.get("id"))
    if not callees:
        return "?"
    found = _blocked_message(task.get("id", ""), callees).search(str(task.get("feedback") or ""))
    if found:
        return found.group("callee")
    failing = [c for c in callees if statuses.get(c, "passed") != "passed"]
    return failing[0] if failing else "?"


def _blocked_message(task: str, callees: tuple[str, ...]) -> re.Pattern:
    """The catalogue's blocked_by_callee message for `task` as a regex, its callee one of `callees`."""
    known = {"task": re.escape(task), "callee": "(?P<callee>" + "|".join(map(re.escape, callees)) + ")"}
    pattern, seen = "", set()
    for literal, name, _spec, _conversion in Formatter().parse(CATALOGUE["blocked_by_callee"][1]):
        pattern += re.escape(literal)
        if name is not None:
            pattern += f"(?P={name})" if name == "callee" and name in seen else known.get(name, ".+?")
            seen.add(name)
    return re.compile(pattern, re.IGNORECASE)


def look_first(rows: list[StudentRow], *, lowest: int = LOWEST) -> list[Concern]:
    """rows -> the ones to open first, each with its reasons: an unreadable file, a forbidden call, a timeout, a
    crash, one of the `lowest` lowest totals (those below the class's median only, so that a small class's good
    marks are not flagged). Unreadable files first, then lowest total first."""
    graded = sorted((r for r in rows if r.status == SubmissionStatus.GRADED), key=lambda r: r.fraction)
    median = statistics.median(r.fraction for r in graded) if graded else 0.0
    low = {id(r) for r in graded[:lowest] if r.fraction < median}
    out = []
    for row in rows:
        reasons = _reasons(row) + (["among the lowest totals"] if id(row) in low else [])
        if reasons:
            out.append(Concern(row, reasons))
    return sorted(out, key=lambda c: (c.row.status == SubmissionStatus.GRADED, c.row.fraction, c.row.student))


def _reasons(row: StudentRow) -> list[str]:
    if row.status != SubmissionStatus.GRADED:
        return [f"unreadable: {textwrap.shorten(row.reason, 200, placeholder=' ...')}"]

    def cases(task: dict, status: str) -> bool:
        return any(c.get("status") == status for c in task.get("cases") or [])

    events = {
        "forbidden call in": [t for t in row.tasks if t.get("status") == "forbidden"],
        "timed out in": [t for t in row.tasks if t.get("status") == "timeout" or cases(t, "timeout")],
        "crashed in": [t for t in row.tasks if cases(t, "crashed")],
    }
    return [f"{words} {', '.join(t.get('id', '?') for t in tasks)}" for words, tasks in events.items() if tasks]


def task_ids(rows: list[StudentRow]) -> list[str]:
    """The task ids in the rows: the course's in course order, then any other in the order first seen."""
    seen = list(dict.fromkeys(t.get("id", "?") for r in rows for t in r.tasks))
    order = {t: i for i, t in enumerate(TASK_IDS)}
    return sorted(seen, key=lambda t: (order.get(t, len(order)), seen.index(t)))


# ---------------------------------------------------------------------------------------------------- CSV
def _number(x: float | None) -> str:
    """12.0 -> "12", 3.333 -> "3.33", None -> ""."""
    return "" if x is None else f"{float(x):.2f}".rstrip("0").rstrip(".")


def _text(s: str) -> str:
    """A text cell a spreadsheet will not run as a formula (a leading =, +, -, @, tab or CR is quoted with ')."""
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s


def write_students_csv(rows: list[StudentRow], path: Path) -> Path:
    """rows -> `path`: nbgrader export's columns (raw_score = score = the total; what attnlab cannot know, such as
    the due date, the names and the penalty, left empty), then one score column per task id, then ``diagnoses``
    (the ids, ;-separated). An unreadable file's scores are empty."""
    ids = task_ids(rows)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow([*NBGRADER_COLUMNS, *ids, "diagnoses"])
        for row in rows:
            scores = {t.get("id"): _number(t.get("score")) for t in row.tasks}
            diagnoses = dict.fromkeys(d for t in row.tasks for d in t.get("diagnoses") or [])
            known = {
                "assignment": _text(row.assignment),
                "student_id": _text(row.student),
                "raw_score": _number(row.total),
                "score": _number(row.total),
                "max_score": _number(row.max_total),
            }
            cells = [known.get(c, "") for c in NBGRADER_COLUMNS] + [scores.get(t, "") for t in ids]
            out.writerow([*cells, _text(";".join(diagnoses))])
    return path


def write_diagnoses_csv(counts: list[DiagnosisCount], path: Path) -> Path:
    """counts -> `path`: diagnosis, count, students, share (of all students, 0 to 1), hint; most common first."""
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(DIAGNOSES_COLUMNS)
        for d in counts:
            out.writerow([_text(d.id), d.count, d.students, f"{d.share:.3f}", _text(d.hint)])
    return path


# ----------------------------------------------------------------------------------------------- pictures
def _label(s: str) -> str:
    """Text for a chart, never read as mathtext."""
    return s.replace("$", r"\$")


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)  # Agg draws it: no pyplot, no display
    return fig


def _one_scale(pairs: list[tuple[float, float]]) -> tuple[list[float], float, str]:
    """(score, max) pairs -> (values, top, x label): the scores themselves where every max is the same, else %."""
    tops = {top for _, top in pairs}
    if len(tops) == 1:
        top = tops.pop() or 1.0
        return [s for s, _ in pairs], top, f"score out of {top:g}"
    return [100 * s / top if top else 0.0 for s, top in pairs], 100.0, "% of the maximum"


def histogram(pairs: list[tuple[float, float]], title: str, path: Path, *, size=(3.6, 2.5)) -> Path:
    """(score, max) pairs, one per student -> `path`, a PNG histogram of the scores in 10 bins, with their mean."""
    values, top, xlabel = _one_scale(pairs)
    fig = _figure(*size)
    ax = fig.add_subplot()
    ax.hist(values, bins=np.linspace(0, top, 11), color=BLUE, edgecolor="white")
    if values:
        mean = statistics.fmean(values)
        ax.axvline(mean, color=ORANGE, linestyle="--", linewidth=1.2, label=f"mean {mean:.3g}")
        ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.set_xlim(0, top)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(_label(xlabel), fontsize=8)
    ax.set_ylabel("students", fontsize=8)
    ax.set_title(_label(title), fontsize=10)
    ax.tick_params(labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    fig.savefig(path)
    return path


def diagnosis_chart(counts: list[DiagnosisCount], path: Path, *, top: int = CHART_TOP) -> Path:
    """counts (most common first) -> `path`, a PNG bar chart of the `top` most common, the most common on top."""
    shown = counts[:top][::-1]
    fig = _figure(7.0, 0.3 * len(shown) + 1.0)
    ax = fig.add_subplot()
    ax.barh([_label(d.id) for d in shown], [d.count for d in shown], color=BLUE)
    for i, d in enumerate(shown):
        ax.text(d.count, i, f" {d.count}", va="center", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("tasks it was named in, over all submissions", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.savefig(path)
    return path


def _file_name(i: int, task: str) -> str:
    return f"task_{i:02d}_{re.sub(r'[^A-Za-z0-9_]+', '_', task)[:40]}.png"


def _score_pictures(rows: list[StudentRow], out: Path) -> list[tuple[str, str]]:
    """The total's histogram and each task's, in `out` -> [(file name, what it shows)]."""
    graded = [r for r in rows if r.status == SubmissionStatus.GRADED]
    if not graded:
        return []
    made = [(histogram([(r.total, r.max_total) for r in graded], "total", out / "total.png", size=(7, 2.8)), "total")]
    for i, task in enumerate(task_ids(rows), 1):
        pairs = [
            (t.get("score") or 0.0, t.get("max_score") or 0.0) for r in graded for t in r.tasks if t.get("id") == task
        ]
        made.append((histogram(pairs, task, out / _file_name(i, task)), task))
    return [(p.name, what) for p, what in made]


# ------------------------------------------------------------------------------------------------- the page
class _Html(str):
    """Markup built here from escaped parts: `_esc` leaves it as it is."""


def _esc(x: object) -> str:
    return x if isinstance(x, _Html) else html.escape(str(x), quote=True)


def _table(headers: list[str], rows: list[list], *, numeric: tuple[int, ...] = ()) -> _Html:
    """A table; cells are text (escaped) unless `_Html`; the columns in `numeric` are right-aligned."""

    def td(i: int, cell: object) -> str:
        return f'<td class="num">{_esc(cell)}</td>' if i in numeric else f"<td>{_esc(cell)}</td>"

    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(td(i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
    return _Html(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _total(row: StudentRow) -> str:
    return "—" if row.total is None else f"{_number(row.total)} / {_number(row.max_total)}"


def _summary(rows: list[StudentRow]) -> _Html:
    graded = [r for r in rows if r.status == SubmissionStatus.GRADED]
    percents = [100 * r.fraction for r in graded]
    cards = [
        ("students", len({r.student for r in rows})),
        ("submissions", len(rows)),
        ("unreadable", len(rows) - len(graded)),
        ("mean total", f"{statistics.fmean(percents):.0f} %" if percents else "—"),
        ("median total", f"{statistics.median(percents):.0f} %" if percents else "—"),
    ]
    html_cards = "".join(f'<div class="card"><b>{_esc(v)}</b><span>{_esc(k)}</span></div>' for k, v in cards)
    pending = sum(1 for r in graded if any(t.get("pending") for t in r.tasks))
    note = (
        f"<p class='note'>{pending} submission(s) have cuda cases pending: they were graded on a machine without "
        "a GPU, and those cases count neither way.</p>"
        if pending
        else ""
    )
    return _Html(f'<div class="cards">{html_cards}</div>{note}')


def _look_first_section(concerns: list[Concern]) -> _Html:
    if not concerns:
        return _Html("<p>No one: every file was read, nothing was forbidden, timed out or crashed.</p>")
    rows = [
        [
            _Html(f"<b>{_esc(c.row.student)}</b><br><small>{_esc(c.row.path)}</small>"),
            c.row.assignment or "—",
            _Html("<br>".join(_esc(r) for r in c.reasons)),
            _total(c.row),
        ]
        for c in concerns
    ]
    return _table(["student", "assignment", "why", "total"], rows, numeric=(3,))


def _diagnoses_section(counts: list[DiagnosisCount], chart: str | None) -> _Html:
    if not counts:
        return _Html("<p>No diagnoses: every task of every graded submission passed.</p>")
    rows = []
    for d in counts:
        tasks = ", ".join(f"{t} ×{n}" if n > 1 else t for t, n in d.tasks.items())
        said = _esc(d.hint or "(not in the diagnosis catalogue)")
        if d.example:
            said += f"<br><small>for example: “{_esc(textwrap.shorten(d.example, 240, placeholder=' ...'))}”</small>"
        rows.append([_Html(f"<code>{_esc(d.id)}</code>"), tasks, d.count, f"{d.students} ({d.share:.0%})", _Html(said)])
    img = f'<img src="{_esc(chart)}" alt="bar chart of the diagnoses">' if chart else ""
    headers = ["diagnosis", "tasks", "count", "students (share)", "hint (what the student reads)"]
    return _Html(img + _table(headers, rows, numeric=(2, 3)))


def _blocked_section(blocked: list[tuple[str, str, int]]) -> _Html:
    if not blocked:
        return _Html("<p>No task was blocked by a failing callee.</p>")
    rows = [[_Html(f"<code>{_esc(c)}</code>"), _Html(f"<code>{_esc(t)}</code>"), n] for c, t, n in blocked]
    return _table(["callee (fix first)", "blocked task", "students"], rows, numeric=(2,))


def _task_table(rows: list[StudentRow]) -> _Html:
    """One line per task: how many were graded on it, their mean, full marks, zeros and statuses."""
    lines = []
    for task in task_ids(rows):
        mine = [t for r in rows for t in r.tasks if t.get("id") == task]
        scores = [float(t.get("score") or 0) for t in mine]
        full = sum(1 for t in mine if (t.get("score") or 0) >= (t.get("max_score") or 0))
        statuses = Counter(str(t.get("status")) for t in mine)
        mean = f"{statistics.fmean(scores):.3g}" if scores else "—"
        top = _number(max((t.get("max_score") or 0) for t in mine)) if mine else ""
        said = ", ".join(f"{s} {n}" for s, n in statuses.most_common())
        lines.append([_Html(f"<code>{_esc(task)}</code>"), top, mean, full, scores.count(0.0), said])
    return _table(["task", "max", "mean", "full marks", "zero", "statuses"], lines, numeric=(1, 2, 3, 4))


def _scores_section(rows: list[StudentRow], pictures: list[tuple[str, str]]) -> _Html:
    if not pictures:
        return _Html("<p>No graded submission.</p>")
    (total, _), tasks = pictures[0], pictures[1:]
    figures = "".join(
        f'<figure><img src="{_esc(name)}" alt="histogram of the scores on {_esc(what)}"></figure>'
        for name, what in tasks
    )
    total_img = f'<img src="{_esc(total)}" alt="histogram of the totals">'
    return _Html(f'{total_img}<div class="grid">{figures}</div>{_task_table(rows)}')


CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2733; background: #f6f7f9;
       margin: 0; }
main { max-width: 1150px; margin: 0 auto; padding: 1.5em 2em 3em; }
h1 { margin: 0 0 .2em; font-size: 1.7em; }
h2 { margin: 2em 0 .6em; font-size: 1.25em; border-bottom: 2px solid #d6dde6; padding-bottom: .25em; }
p.lead, p.note, small { color: #5a6878; }
table { border-collapse: collapse; width: 100%; background: #fff; box-shadow: 0 1px 2px #0001; }
th, td { padding: .45em .7em; border-bottom: 1px solid #e4e8ee; text-align: left; vertical-align: top; }
th { background: #eef2f6; font-weight: 600; font-size: .9em; }
tbody tr:nth-child(even) { background: #fafbfc; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
code { background: #eef2f6; padding: .05em .3em; border-radius: 3px; font-size: .92em; }
img { max-width: 100%; background: #fff; border-radius: 4px; box-shadow: 0 1px 2px #0001; margin-bottom: .8em; }
.cards { display: flex; gap: .8em; flex-wrap: wrap; margin: 1em 0; }
.card { background: #fff; padding: .7em 1.1em; border-radius: 6px; box-shadow: 0 1px 2px #0002; min-width: 7em; }
.card b { display: block; font-size: 1.5em; } .card span { color: #5a6878; font-size: .85em; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: .6em; }
figure { margin: 0; }
"""


#: The page runs no script and loads only its own pictures and inline style: should a student's text ever escape
#: the escaping, the browser still refuses to run it or fetch anything for it.
CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _page(title: str, sections: list[tuple[str, str, _Html]], lead: str) -> str:
    """The whole page: the title, a lead line, then each (anchor, heading, body) section."""
    nav = " · ".join(f'<a href="#{a}">{_esc(h)}</a>' for a, h, _ in sections)
    body = "".join(f'<section id="{a}"><h2>{_esc(h)}</h2>{b}</section>' for a, h, b in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{CSS}</style></head>\n"
        f'<body><main><h1>{_esc(title)}</h1><p class="lead">{_esc(lead)}</p><nav>{nav}</nav>{body}</main></body>'
        "</html>\n"
    )


def write_class_report(records: list[dict], out: Path, *, title: str | None = None) -> Path:
    """records (the lines of a results file) -> `out`/index.html, with its PNG charts, students.csv and
    diagnoses.csv beside it; returns the path of index.html. `title` defaults to the assignments' names."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = student_rows(records)
    counts = diagnosis_counts(rows)
    chart = diagnosis_chart(counts, out / "diagnoses.png").name if counts else None
    write_students_csv(rows, out / "students.csv")
    write_diagnoses_csv(counts, out / "diagnoses.csv")
    assignments = sorted({r.assignment for r in rows if r.assignment})
    title = title or "Class report" + (f": {', '.join(assignments)}" if assignments else "")
    downloads = _Html(
        '<p><a href="students.csv">students.csv</a>: one row per student and assignment, nbgrader export\'s columns, '
        'then one score per task and the diagnoses. <a href="diagnoses.csv">diagnoses.csv</a>: the table above.</p>'
    )
    sections = [
        ("summary", "Summary", _summary(rows)),
        ("look-first", "Look at these first", _look_first_section(look_first(rows))),
        ("diagnoses", "Diagnoses across the class, most common first", _diagnoses_section(counts, chart)),
        ("blocked", "Tasks blocked by a failing callee", _blocked_section(blocked_tasks(rows))),
        ("scores", "Score distributions", _scores_section(rows, _score_pictures(rows, out))),
        ("downloads", "Downloads", downloads),
    ]
    lead = f"{len(records)} result line(s), {len(rows)} submission(s), one per student and assignment."
    page = out / "index.html"
    page.write_text(_page(title, sections, lead), encoding="utf-8")
    return page
