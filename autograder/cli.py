"""`attnlab grade`, `attnlab check`, `attnlab doctor`, `attnlab nbgrader-config` and `attnlab hub`: argument
parsing only; the work is in `attnlab.grading.grade`, `attnlab.grading.processes`, `attnlab.nbgrader_plugin`
and `attnlab.hub.launch`.

The zygote is started before torch is imported here, so that the child's torch import and the
parent's run side by side.

The student build (`attnlab.student_build`) ships this module too, for self-learners: there `attnlab check`
grades a file on the public cases it holds as data, in the same sandboxed child, and `attnlab doctor` shows
the sandbox; the commands that need the answers (`FULL_INSTALL_ONLY`) say so in one line, and nothing runs
the self-check, whose known-correct submission is the reference.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

from .tasks import TASK_IDS

#: The commands that need the full install, with the reason that the student build's `attnlab` gives.
FULL_INSTALL_ONLY = {
    "grade": "a secret seed's cases are drawn and answered by the reference, which the student build leaves out",
    "nbgrader-config": "it configures an instructor's nbgrader",
    "hub": "it runs an instructor's JupyterHub",
}
NEEDS_FULL_INSTALL = (
    "`attnlab {command}` needs the full install ({why}); this is attnlab's student build, where `attnlab check FILE` "
    "grades your file on the public cases"
)
NO_SELFCHECK = "none in the student build, whose known-correct submission would be the answers"


def is_student_build() -> bool:
    """Whether this attnlab is the student build: it has no answers zone (``grading.cases.answers`` is None
    there), found here without importing anything heavy."""
    return importlib.util.find_spec(f"{__package__}.answers") is None


def _parser(student: bool = False) -> argparse.ArgumentParser:
    """The full install's commands, or with `student` the student build's: `check` (no --device or --course:
    its cases exist for the bundled course only) and `doctor`."""
    p = argparse.ArgumentParser(prog="attnlab", description="Grade attention exercises out of the student's reach.")
    sub = p.add_subparsers(dest="command", required=True)
    commands = [("check", "the same checks with the public seed")]
    if not student:
        commands.insert(0, ("grade", "grade submissions with a secret seed"))
    for name, text in commands:
        g = sub.add_parser(name, help=text, description=text)
        g.add_argument("paths", nargs="+", metavar="PATH", help="a .py module or a .ipynb notebook")
        g.add_argument("--json", action="store_true", help="one JSON object per submission on stdout, one per line")
        if name == "grade":
            g.add_argument(
                "--seed", type=int, default=None, help="the secret seed (else $ATTNLAB_SECRET_SEED, else random)"
            )
        g.add_argument("--tasks", default=None, help=f"comma-separated task ids, from: {', '.join(TASK_IDS)}")
        if student:
            g.set_defaults(device="auto", course=None)
        else:
            g.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
            g.add_argument("--course", default=None, help="course.yml (default: $ATTNLAB_COURSE, else the bundled one)")
        g.add_argument(
            "--report",
            default=None,
            metavar="DIR",
            help="also write DIR/<name>.json and a PNG picture of each task's mistake next to it",
        )
    d = sub.add_parser(
        "doctor",
        help="show which layers of the sandbox around student code work here",
        description="show which layers of the sandbox around student code work on this machine",
    )
    d.add_argument(
        "--json",
        action="store_true",
        help="one JSON object: {mode, layers: {id: {name, active, detail}}, gpu, selfcheck}",
    )
    if student:
        d.set_defaults(course=None)
        return p
    d.add_argument("--course", default=None, help="course.yml for the self-check (default: the bundled one)")
    n = sub.add_parser(
        "nbgrader-config",
        help="print an nbgrader_config.py for course.yml (scores from the trusted grader)",
        description="print an nbgrader_config.py for course.yml; put it in the nbgrader course root",
    )
    n.add_argument("--course", default=None, help="course.yml (default: $ATTNLAB_COURSE, else the bundled one)")
    n.add_argument("--exchange", default=None, metavar="DIR", help="nbgrader's exchange folder (c.Exchange.root)")
    _hub_parser(sub)
    return p


def _hub_parser(sub) -> None:
    h = sub.add_parser(
        "hub",
        help="run the course in a real JupyterHub, in the foreground until Ctrl-C",
        description="run the course in JupyterHub with configurable-http-proxy: the four lessons released, "
        "students on the student build, the instructor with the formgrader; in the foreground until Ctrl-C "
        "or SIGTERM",
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
        help="where the course lives (default: /srv/attnlab with --system-users, else ~/.local/share/attnlab/hub)",
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
    from .grading.processes import LAYER_NAMES, Zygote
    from .grading.selfcheck import full, run, why

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
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"attnlab sandbox (ATTNLAB_SANDBOX={mode})")
    table.add_column("layer")
    table.add_column("active")
    table.add_column("how, or why not")
    for key, (ok, detail) in layers.items():
        table.add_row(LAYER_NAMES[key], "[green]yes[/]" if ok else "[red]no[/]", detail)
    console = Console()
    console.print(table)
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
        from .nbgrader_plugin import nbgrader_config
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
    return grade(args)


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
    """`attnlab grade` and `attnlab check`: start the zygote, read the submissions, then `_grade_read`."""
    tasks = None
    if args.tasks:
        tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
        unknown = [t for t in tasks if t not in TASK_IDS]
        if unknown:
            return fail(f"unknown task id {unknown[0]!r}; choose from {', '.join(TASK_IDS)}")

    from .grading.processes import Zygote
    from .grading.submission import Unreadable, read_submission

    zygote = Zygote()  # starts importing torch in the child now, while we read the submissions
    # An unreadable path gets its own result line and the others are graded; only when nothing at all
    # can be read is it an error (exit 2), one line per path.
    subs = [read_submission(p) for p in args.paths]
    if all(isinstance(s, Unreadable) for s in subs):
        zygote.close()
        for s in subs[:-1]:
            print(f"attnlab: {s.path}: {s.reason}", file=sys.stderr)
        return fail(f"{subs[-1].path}: {subs[-1].reason}")
    return _grade_read(args, zygote, subs, tasks)


def _grade_read(args: argparse.Namespace, zygote, subs: list, tasks: list[str] | None) -> int:
    """Load the course, check this environment once (the self-check, which the student build cannot run), then
    grade `subs`; the zygote is closed on every way out."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from .course import CourseError, load_course
    from .grading.grade import secret_seed
    from .grading.report import summary

    try:
        course = load_course(args.course)
    except CourseError as e:
        zygote.close()
        return fail(str(e))
    if tasks:
        missing = [t for t in tasks if t not in [x.id for x in course.tasks]]
        if missing:
            zygote.close()
            return fail(f"task {missing[0]!r} is not in {args.course or 'course.yml'}")
    seed = course.public_seed if args.command == "check" else secret_seed(args.seed)
    console = Console(stderr=False, soft_wrap=False)
    err = Console(stderr=True)
    from .grading.selfcheck import SelfCheckFailed, ensure

    try:
        if not is_student_build():
            with err.status("checking this environment once: grading a known-correct submission"):
                ensure(zygote, course, device=args.device)
    except SelfCheckFailed as e:
        zygote.close()
        print(f"attnlab: {e}", file=sys.stderr)
        return 3
    progress = Progress(
        TextColumn("grading"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    results = _grade_all(args, zygote, subs, tasks, course, seed, progress, console)
    if not args.json and len(results) > 1:
        summary(results, console)
    return 0


def _grade_all(args: argparse.Namespace, zygote, subs: list, tasks, course, seed: int, progress, console) -> list:
    """Grade `subs` under the progress bar, writing each result as it comes (a table, a JSON line, a report);
    then close the zygote."""
    from .grading.grade import grade_submissions
    from .grading.report import json_line, table, write_report

    def done(result: dict) -> None:
        progress.update(bar, advance=1, description=f"done: {result['submission']}")
        if args.report:
            write_report(result, Path(args.report))
        if args.json:
            print(json_line(result), flush=True)
        else:
            table(result, console)

    try:
        with progress:
            bar = progress.add_task("", total=len(subs))
            return grade_submissions(
                subs,
                course=course,
                seed=seed,
                task_ids=tasks,
                device=args.device,
                zygote=zygote,
                on_done=done,
                pictures=bool(args.report),
            )
    finally:
        zygote.close()


def run() -> None:
    """The console entry point: like main(), then leave without the interpreter's slow torch teardown."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
