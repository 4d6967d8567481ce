"""`attnlab grade`, `check`, `doctor`, `nbgrader-config`, `hub`, `autograde` and `report`: argument parsing
only; the work is in `attnlab.running` (`classrun`, `processes`, `selfcheck`), `attnlab.reporting`,
`attnlab.nbgrader`, `attnlab.nbgrader.autograde` and `attnlab.hub.launch`.

What they print suits its reader (`attnlab.reporting.report.console_for`): a terminal gets colours and a
progress bar, a file or a pipe gets plain lines, and no table is ever cut or breaks a name, whatever the width
(`print_whole`).

The zygote is started before torch is imported here, so that the child's torch import and the
parent's run side by side.

The student build (`attnlab.student_build`) ships this module too, for self-learners: there `attnlab check`
grades a file on the public cases it holds as data, in the same sandboxed child, and `attnlab doctor` shows
the sandbox; the commands that need the answers (`FULL_INSTALL_ONLY`) say so in one line, and nothing runs
the self-check, whose known-correct submission is the reference.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .tasks import TASK_IDS
from .version import is_student_build

#: The commands that need the full install, with the reason that the student build's `attnlab` gives.
FULL_INSTALL_ONLY = {
    "grade": "a secret seed's cases are drawn and answered by the reference, which the student build leaves out",
    "nbgrader-config": "it configures an instructor's nbgrader",
    "hub": "it runs an instructor's JupyterHub",
    "autograde": "it grades a class into an instructor's nbgrader gradebook",
    "report": "it reports on a class's results file",
}
NEEDS_FULL_INSTALL = (
    "`attnlab {command}` needs the full install ({why}); this is attnlab's student build, where `attnlab check FILE` "
    "grades your file on the public cases"
)
NO_SELFCHECK = "none in the student build, whose known-correct submission would be the answers"


def _parser(student: bool = False) -> argparse.ArgumentParser:
    """The full install's commands, or with `student` the student build's: `check` (no --device or --course:
    its cases exist for the bundled course only) and `doctor`."""
    p = argparse.ArgumentParser(prog="attnlab", description="Grade attention exercises out of the student's reach.")
    sub = p.add_subparsers(dest="command", required=True)
    commands = [("check", "the same checks with the public seed")]
    if not student:
        commands.insert(0, ("grade", "grade submissions with a secret seed"))
    for name, text in commands:
        _grade_parser(sub.add_parser(name, help=text, description=text), name, student)
    _doctor_parser(sub, student)
    if student:
        return p
    n = sub.add_parser(
        "nbgrader-config",
        help="print an nbgrader_config.py for course.yml (scores from the trusted grader)",
        description="print an nbgrader_config.py for course.yml; put it in the nbgrader course root",
    )
    n.add_argument("--course", default=None, help="course.yml (default: $ATTNLAB_COURSE, else the bundled one)")
    n.add_argument("--exchange", default=None, metavar="DIR", help="nbgrader's exchange folder (c.Exchange.root)")
    _hub_parser(sub)
    _autograde_parser(sub)
    _report_parser(sub)
    return p


def _grade_parser(g: argparse.ArgumentParser, name: str, student: bool) -> None:
    """The options of `grade` and `check`."""
    g.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="a .py module, a .ipynb notebook, or a folder: every .py and .ipynb under it "
        "(nbgrader's submitted/<student>/<assignment>/ layout names the student)",
    )
    g.add_argument("--json", action="store_true", help="one JSON object per submission on stdout, one per line")
    if name == "grade":
        g.add_argument(
            "--seed",
            type=int,
            default=None,
            help="the secret seed (else $ATTNLAB_SECRET_SEED, else the --results file's, else random)",
        )
        _class_options(g)
    g.add_argument(
        "--tasks", default=None, help=f"comma-separated task ids of the course ({', '.join(TASK_IDS)}, its own)"
    )
    if student:
        g.set_defaults(device="auto", course=None)
    else:
        g.add_argument(
            "--device",
            choices=["auto", "cpu", "cuda"],
            default="auto",
            help="where the cases run: auto, the devices course.yml lists (cuda cases are pending on a machine "
            "without a GPU); or cpu, or cuda, only",
        )
        g.add_argument("--course", default=None, help="course.yml (default: $ATTNLAB_COURSE, else the bundled one)")
    g.add_argument(
        "--report",
        default=None,
        metavar="DIR",
        help="also write DIR/<name>.json and a PNG picture of each task's mistake next to it",
    )


def _doctor_parser(sub, student: bool) -> None:
    d = sub.add_parser(
        "doctor",
        help="show which layers of the sandbox around student code work here",
        description="show which layers of the sandbox around student code work on this machine, the GPU the "
        "grader sees, and whether a known-correct submission scores full marks here (the self-check; exit code "
        "3 where it does not)",
    )
    d.add_argument(
        "--json",
        action="store_true",
        help="one JSON object: {mode, layers: {id: {name, active, detail}}, gpu, selfcheck}",
    )
    if student:
        d.set_defaults(course=None)
        return
    d.add_argument(
        "--course", default=None, help="course.yml for the self-check (default: $ATTNLAB_COURSE, else the bundled one)"
    )


def _report_parser(sub) -> None:
    r = sub.add_parser(
        "report",
        help="write a class report (one HTML page with pictures, and CSV files) from a results file",
        description="write DIR/index.html (score distributions, the class's diagnoses, which tasks blocked "
        "others, the students to look at first) and DIR/students.csv, DIR/diagnoses.csv from a --results file",
    )
    r.add_argument(
        "results", metavar="RESULTS.jsonl", help="the file `attnlab grade --results` or `attnlab autograde` wrote"
    )
    r.add_argument("--out", required=True, metavar="DIR", help="the folder to write the page and the CSV files to")
    r.add_argument("--title", default=None, help="the page's title (default: the results file's name)")


def _autograde_parser(sub) -> None:
    a = sub.add_parser(
        "autograde",
        help="nbgrader autograde at class speed: grade every submitted notebook in parallel, then fill nbgrader's "
        "gradebook",
        description="run in the nbgrader course root: grade every submitted notebook of ASSIGNMENT in parallel into "
        "the results file, then run nbgrader's own autograde, which takes each grade from that file",
    )
    a.add_argument("assignment", metavar="ASSIGNMENT", help="the assignment id, as in submitted/<student>/ASSIGNMENT/")
    a.add_argument("--student", default=None, metavar="ID", help="only this student, graded again (nbgrader's --force)")
    a.add_argument(
        "--seed",
        type=int,
        default=None,
        help="the secret seed (else c.TrustedGrades.seed, else $ATTNLAB_SECRET_SEED, else the results file's, "
        "else random)",
    )
    # None: attnlab.nbgrader.autograde picks its RESULTS, named here without importing it (it loads the course).
    _class_options(a, results_default="attnlab_results.jsonl in the course root, next to gradebook.db")


def _jobs(text: str) -> int:
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers; give a whole number, 1 or more")
    return jobs


def _class_options(g, results_default: str | None = None) -> None:
    """--jobs, --results and --dask: how `attnlab grade` and `attnlab autograde` grade a class. `results_default`:
    what --results is when not given, in words (none: no results file)."""
    from .running.processes import default_jobs  # light: the zygote must start before torch is imported here

    g.add_argument(
        "--jobs",
        type=_jobs,
        default=default_jobs(),
        metavar="N",
        help="submissions graded side by side, each in its own fresh worker (default: the cores here, "
        f"{default_jobs()})",
    )
    g.add_argument(
        "--results",
        default=None,
        metavar="FILE.jsonl",
        help="append each result to FILE as one JSON line; a rerun with the same FILE grades only what is "
        "missing or changed (safe to kill and start again)"
        + (f"; default: {results_default}" if results_default else ""),
    )
    g.add_argument(
        "--dask",
        default=None,
        metavar="ADDRESS",
        help="grade on a Dask distributed cluster (its scheduler's address, tcp://host:8786); "
        "needs pip install 'attnlab[dask]' here and on every worker",
    )


def _hub_parser(sub) -> None:
    h = sub.add_parser(
        "hub",
        help="run the course in a real JupyterHub, in the foreground until Ctrl-C",
        description="run the course in JupyterHub with configurable-http-proxy: every lesson of the course "
        "generated and released, students on the student build, the instructor with the formgrader; in the "
        "foreground until Ctrl-C or SIGTERM; the set-up shows a spinner on a terminal, one line per step in a "
        "file or a pipe",
    )
    h.add_argument("--port", type=int, default=8000, help="the public port (default 8000)")
    h.add_argument("--ip", default="127.0.0.1", help="the address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    h.add_argument("--students", default="alice,bob", help="comma-separated student log-ins (default alice,bob)")
    h.add_argument("--instructor", default="teacher", help="the instructor's log-in (default teacher)")
    h.add_argument(
        "--password-file",
        default=None,
        metavar="F",
        help="name:password lines; people it lacks get a fresh password, added to it (default <root>/hub/passwords)",
    )
    h.add_argument(
        "--course-root",
        default=None,
        metavar="DIR",
        help="where the course lives (default: /srv/attnlab with --system-users, else "
        "$XDG_DATA_HOME/attnlab/hub, ~/.local/share/attnlab/hub where that is unset)",
    )
    h.add_argument(
        "--system-users",
        action="store_true",
        help="a Unix account per person, each server as its own account (needs root); without it every "
        "server runs as you and students are not isolated",
    )
    h.add_argument("--course", default=None, help="course.yml (default: $ATTNLAB_COURSE, else the bundled one)")


def doctor(*, as_json: bool, course_path: str | None = None) -> int:
    """Start the grader's child process as `grade` would; print what its sandbox probe found, the GPU it
    sees, and how a known-correct submission scores here (the self-check, run afresh; none in the student
    build, where "selfcheck" is null)."""
    from .course import CourseError, load_course
    from .running.processes import LAYER_NAMES, Zygote
    from .running.selfcheck import full, run, why

    student = is_student_build()
    try:
        course = load_course(course_path)
        with Zygote(warn=False) as zygote:
            layers = zygote.sandbox
            mode, gpu = zygote.mode, zygote.gpu
            result = None if student else run(zygote, course)
    except (RuntimeError, ValueError, CourseError) as e:
        return fail(str(e))
    check = None if result is None else {"passed": full(result), "score": why(result)}
    if as_json:
        print(
            json.dumps(
                {
                    "mode": mode,
                    "layers": {
                        k: {"name": LAYER_NAMES[k], "active": ok, "detail": detail}
                        for k, (ok, detail) in layers.items()
                    },
                    "gpu": gpu,
                    "selfcheck": check,
                }
            )
        )
        return 0 if check is None or check["passed"] else 3
    return _doctor_table(mode, layers, gpu, check)


def _doctor_table(mode: str, layers: dict, gpu: dict, check: dict | None) -> int:
    """`attnlab doctor` for people: the sandbox's layers as a table, the GPU, the self-check; its exit code."""
    from rich.markup import escape
    from rich.table import Table

    from .reporting.report import console_for, print_whole
    from .running.processes import LAYER_NAMES

    table = Table(title=f"attnlab sandbox (ATTNLAB_SANDBOX={mode})")
    table.add_column("layer", no_wrap=True)
    table.add_column("active", no_wrap=True)
    table.add_column("how, or why not")
    for key, (ok, detail) in layers.items():
        table.add_row(LAYER_NAMES[key], "[green]yes[/]" if ok else "[red]no[/]", escape(detail))
    console = console_for(sys.stdout)
    print_whole(console, table)
    if gpu.get("count"):
        console.print(f"GPU: {gpu['count']} x {gpu['name']}, {gpu['memory_mb']} MB: cuda cases run here.")
    else:
        console.print("GPU: none" + (f" ({gpu['error']})" if gpu.get("error") else "") + ": cuda cases are pending.")
    if check is None:
        console.print(f"self-check: {NO_SELFCHECK}.")
        return 0
    if check["passed"]:
        console.print(f"self-check: [green]passed[/]: a known-correct submission scores {check['score']} here.")
        return 0
    console.print(
        f"self-check: [red]FAILED[/]: a known-correct submission scores {check['score']} here; "
        "`attnlab grade` refuses to grade until that is fixed.",
        markup=True,
        highlight=False,
    )
    return 3


def write_nbgrader_config(course_path: str | None, exchange: str | None) -> int:
    from .course import CourseError, load_course

    try:
        course = load_course(course_path)
        from .nbgrader import nbgrader_config
    except CourseError as e:
        return fail(str(e))
    except ImportError as e:
        return fail(f"nbgrader is not installed ({e.name}); pip install 'attnlab[nbgrader]'")
    sys.stdout.write(nbgrader_config(course, exchange_root=exchange))
    return 0


def fail(message: str) -> int:
    print(f"attnlab: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    student = is_student_build()
    argv = sys.argv[1:] if argv is None else list(argv)
    if student and argv and argv[0] in FULL_INSTALL_ONLY:
        return fail(NEEDS_FULL_INSTALL.format(command=argv[0], why=FULL_INSTALL_ONLY[argv[0]]))
    args = _parser(student).parse_args(argv)
    if args.command == "doctor":
        return doctor(as_json=args.json, course_path=args.course)
    if args.command == "nbgrader-config":
        return write_nbgrader_config(args.course, args.exchange)
    if args.command == "hub":
        return hub(args)
    if args.command == "autograde":
        return autograde(args)
    if args.command == "report":
        return report(args)
    return grade(args)


def autograde(args: argparse.Namespace) -> int:
    """`attnlab autograde`: attnlab.nbgrader.autograde does the work, under a progress bar."""
    from rich.console import Console

    try:
        from .nbgrader.autograde import AutogradeError
        from .nbgrader.autograde import autograde as run_autograde
    except ImportError as e:
        return fail(f"nbgrader is not installed ({e.name}); pip install 'attnlab[nbgrader]'")
    from .course import CourseError
    from .running.selfcheck import SelfCheckFailed

    progress = _progress(Console(stderr=True))
    with progress:
        bar = progress.add_task("", total=None, rate="")

        def advance(item, result: dict, stored: bool) -> None:
            what = "from the results file" if stored else "graded"
            progress.update(bar, advance=1, description=f"{what}: {item.where.student}", rate="")

        try:
            return run_autograde(
                args.assignment,
                student=args.student,
                jobs=args.jobs,
                results=args.results,
                dask=args.dask,
                seed=args.seed,
                progress=advance,
            )
        except SelfCheckFailed as e:
            print(f"attnlab: {e}", file=sys.stderr)
            return 3
        except (AutogradeError, CourseError, RuntimeError, OSError) as e:
            return fail(str(e))


def report(args: argparse.Namespace) -> int:
    """`attnlab report RESULTS --out DIR`: the class report (attnlab.reporting.class_report)."""
    from .reporting.class_report import write_class_report
    from .running.results import latest, read_records

    try:
        records = latest(read_records(args.results))
    except OSError as e:
        return fail(f"{args.results}: cannot be read ({e.strerror})")
    if not records:
        return fail(f"{args.results}: no attnlab results in it; give the file `attnlab grade --results` wrote")
    page = write_class_report(records, Path(args.out), title=args.title or Path(args.results).name)
    print(page)
    return 0


def hub(args: argparse.Namespace) -> int:
    """`attnlab hub`: attnlab.hub.launch does the work; a problem to fix is one line and exit code 2."""
    from .course import CourseError
    from .hub.plan import HubError

    if args.course_root is None:
        data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
        args.course_root = "/srv/attnlab" if args.system_users else str(data / "attnlab" / "hub")
    try:
        from .hub.launch import run as run_hub

        return run_hub(args)
    except (HubError, CourseError) as e:
        return fail(str(e))


def grade(args: argparse.Namespace) -> int:
    """`attnlab grade` and `attnlab check`: find the submissions, start the grading service, then `_grade_found`."""
    tasks = None
    if args.tasks:
        tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]  # checked against the course's, below
    from .running.found import expand
    from .running.service import GradingService

    found_in = {p: expand([p]) for p in args.paths}
    found = [f for p in args.paths for f in found_in[p]]
    empty = [p for p in args.paths if Path(p).is_dir() and not found_in[p]]
    if empty:
        return fail(f"{empty[0]}: no .py or .ipynb file under this folder; give a folder of submissions")
    # Its zygote starts now, so that its torch import runs while we read the submissions; on Dask, the workers grade.
    with GradingService(dask=getattr(args, "dask", None)) as service:
        return _grade_found(args, service, found, tasks)


def _grade_found(args: argparse.Namespace, service, found: list, tasks: list[str] | None) -> int:
    """Load the course and the results file, read the submissions, then grade what is not graded yet (the
    service checks this environment once first: the self-check, which the student build cannot run)."""
    from .course import CourseError, load_course
    from .running.selfcheck import SelfCheckFailed
    from .running.submission import Unreadable

    try:
        course = load_course(args.course)
    except CourseError as e:
        return fail(str(e))
    if tasks:
        ids = [x.id for x in course.tasks]
        missing = [t for t in tasks if t not in ids]
        if missing:
            return fail(f"unknown task id {missing[0]!r}: {args.course or 'course.yml'} has {', '.join(ids)}")
    try:
        results = service.results_file(getattr(args, "results", None))
    except (OSError, ValueError) as e:
        return fail(str(e) if isinstance(e, ValueError) else f"{args.results}: cannot be opened ({e.strerror})")
    try:
        run = service.read(
            found,
            course=course,
            seed=_seed(args, course, results),
            task_ids=tasks,
            device=args.device,
            jobs=getattr(args, "jobs", None) or 1,
            results=results,
            pictures=bool(args.report),
            read=_self_check_read if args.command == "check" else None,
        )
        unreadable = [i.sub for i in run.items if isinstance(i.sub, Unreadable)]
        if len(unreadable) == len(run.items):
            for s in unreadable[:-1]:
                print(f"attnlab: {s.path}: {s.reason}", file=sys.stderr)
            return fail(f"{unreadable[-1].path}: {unreadable[-1].reason}")
        if service.self_check and not service.dask and run.todo:
            from rich.console import Console

            with Console(stderr=True).status("checking this environment once: grading a known-correct submission"):
                service.zygote(course, args.device)
        return _grade_all(args, service, run)
    except SelfCheckFailed as e:
        print(f"attnlab: {e}", file=sys.stderr)
        return 3


def _self_check_read(found):
    """`attnlab check` reads a lesson as the student's kernel runs it: its earlier() lines become the student's own
    earlier lessons, from the notebooks beside it (``attnlab.earlier_lessons``). `attnlab grade` never does."""
    from .earlier_lessons import self_check_submission
    from .running.submission import read_submission

    return self_check_submission(read_submission(found.path))


def _seed(args: argparse.Namespace, course, results) -> int:
    """The seed rule (``running.service.seed_for``): check, the public seed; grade, --seed, else
    $ATTNLAB_SECRET_SEED, else the seed the results file was graded with (a rerun resumes it), else a fresh one."""
    from .running.service import seed_for

    seed, resumed = seed_for(
        args.seed if args.command != "check" else None,
        results=results,
        public=course.public_seed if args.command == "check" else None,
    )
    if resumed:
        print(f"attnlab: {results.path}: resuming with the seed its lines were graded with", file=sys.stderr)
    return seed


def _progress(err):
    """The progress bar on stderr: done/total, rate and time left; shown only on a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("grading"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.description}", style="dim"),
        console=err,
        transient=True,
        disable=not err.is_terminal,
        # What goes to stdout stays there (a pipe or a file gets every line); see _grade_all.
        redirect_stdout=False,
        redirect_stderr=False,
    )


def _grade_all(args: argparse.Namespace, service, run) -> int:
    """Grade `run` under the progress bar, writing each result in input order (a table, a JSON line, a report)."""
    import time

    from rich.console import Console

    from .reporting.report import console_for, json_line, summary, table, write_report

    progress = _progress(Console(stderr=True))
    # Where stdout is the terminal that shows the bar, results are printed above the bar, not through it.
    shared = sys.stdout.isatty() and progress.console.is_terminal
    console = progress.console if shared else console_for(sys.stdout)
    started, graded = time.monotonic(), [0]

    def emit(item, result: dict) -> None:
        if args.report:
            write_report(result, Path(args.report))
        if args.json and shared:
            console.print(json_line(result), markup=False, highlight=False, soft_wrap=True)
        elif args.json:
            print(json_line(result), flush=True)
        else:
            table(result, console)

    def advance(item, result: dict, stored: bool) -> None:
        graded[0] += 0 if stored else 1
        rate = graded[0] / max(time.monotonic() - started, 1e-9)
        what = "from the results file" if stored else "graded"
        progress.update(bar, advance=1, description=f"{what}: {item.sub.name}", rate=f"{rate:.2f}/s")

    try:
        service.backend()  # on Dask: reach the scheduler now, or say in one line why not
    except (ImportError, RuntimeError, ValueError, OSError) as e:
        return fail(str(e))
    with progress:
        bar = progress.add_task("", total=len(run.items), rate="")
        results = service.grade_run(run, on_result=emit, progress=advance)
    if not args.json and len(results) > 1:
        summary(results, console)
    return 0


def run() -> None:
    """The console entry point: like main(), then leave without the interpreter's slow torch teardown."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
