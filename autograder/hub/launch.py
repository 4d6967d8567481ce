"""`attnlab hub`: set the course up, start JupyterHub with its proxy, print the log-ins, wait for Ctrl-C.

The first start makes the course root (`attnlab.hub.course_root`): the lessons generated and released,
the students' environment built (about a minute). Later starts reuse it and answer on the log-in page
within seconds (`benchmarks/hub_start.py`). JupyterHub's own log goes to `<root>/hub/jupyterhub.log`.
Ctrl-C or SIGTERM stops the hub, its proxy and every server it started.

What it prints suits its reader (`attnlab.reporting.report.console_for`): on a terminal a spinner shows the
set-up's latest step; in a log file or a pipe each step is a line of its own (`steps`), and the log-ins
table is never cut (`print_whole`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..reporting.report import console_for, print_whole
from . import course_root
from .plan import HubError, HubPlan, ensure_passwords, make_plan

#: How long the hub may take to answer on its log-in page once set up.
READY_SECONDS = 60

TRIAL_WARNING = (
    "Trying the course: every server runs as this OS user, so students are NOT isolated from each other "
    "(any student's code can read and change any other's work and the course's files). "
    "For a real class use --system-users."
)


#: How a step of the set-up begins where it is a line of a log rather than a spinner.
STEP_PREFIX = "attnlab hub: "


def prerequisites() -> str:
    """The proxy's command; HubError naming what to install where something is missing."""
    for name in ("jupyterhub", "jupyterlab", "nbgrader"):  # found, not imported: the hub's process imports them
        if importlib.util.find_spec(name) is None:
            raise HubError(f"{name} is not installed: pip install 'attnlab[hub]'")
    proxy = shutil.which("configurable-http-proxy")
    if proxy is None:
        raise HubError(
            "configurable-http-proxy is not on PATH: install it with `npm install -g configurable-http-proxy` "
            "(Node 18 or newer)"
        )
    return proxy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_port_free(ip: str, port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError:
            raise HubError(f"port {port} is in use on {ip}: stop what uses it, or pick another with --port") from None


@contextlib.contextmanager
def steps(console: Console, first: str) -> Iterator[Callable[[str], None]]:
    """`say(text)`, which shows the set-up's progress as its reader can follow it.

    On a terminal, a spinner shows the latest step and is gone when the set-up is done. Elsewhere (a log
    file, a pipe, a service's journal) a spinner shows nothing at all, so each step (and each line of the
    student environment's pip, which the set-up reports as it comes) is printed as a line of its own,
    `STEP_PREFIX` first, and flushed at once: `tail -f` follows the minute of a first set-up."""
    if console.is_terminal:
        with console.status(escape(first)) as status:
            yield lambda text: status.update(escape(text))  # pip's lines hold brackets: "attnlab[hub]"
        return

    def say(text: str) -> None:
        console.print(STEP_PREFIX + text, markup=False, highlight=False)
        console.file.flush()

    say(first)
    yield say


def set_up(plan: HubPlan, course, say) -> dict[str, str]:
    """Everything the hub needs on disk, in order; the log-ins."""
    from . import accounts

    if plan.system_users:
        accounts.require_root()
    course_root.make_folders(plan)
    if plan.system_users:
        accounts.check_reachable(plan)
    logins = ensure_passwords(plan)
    course_root.write_configs(plan, course)
    if plan.system_users:
        say("making the accounts and closing the course to everyone but the instructor")
        for name in accounts.ensure_accounts(plan, logins):  # accounts that were there before keep their password
            logins[name] = "(this account's own password)"
        accounts.instructor_only(plan, accounts.grader_paths())
        accounts.protect_exchange(plan)
    course_root.release_lessons(plan, say)
    course_root.register_students(plan, say)
    if plan.system_users:
        accounts.protect_exchange(plan)  # the inbound folder nbgrader may just have made
    course_root.build_student_env(plan, course, say)
    plan.hub_dir.joinpath("plan.json").write_text(plan.to_json(), encoding="utf-8")
    config = plan.hub_dir / "jupyterhub_config.py"
    config.write_text(
        "# attnlab hub: JupyterHub's configuration comes from the plan beside this file.\n"
        "from attnlab.hub.hubconfig import configure\n\n"
        f"configure(c, {str(plan.hub_dir / 'plan.json')!r})  # noqa: F821\n",
        encoding="utf-8",
    )
    return logins


def start_hub(plan: HubPlan) -> subprocess.Popen:
    """JupyterHub in a process group of its own, its log in `<root>/hub/jupyterhub.log`."""
    log = open(plan.hub_dir / "jupyterhub.log", "ab")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(plan.hub_dir / "jupyterhub_config.py")],
        cwd=plan.hub_dir,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


def wait_ready(plan: HubPlan, hub: subprocess.Popen, timeout: float = READY_SECONDS) -> float:
    """Seconds until the log-in page answers; HubError with the log's end if the hub exits or never answers."""
    host = "127.0.0.1" if plan.ip in ("0.0.0.0", "") else plan.ip
    url = f"http://{host}:{plan.port}/hub/login"
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if hub.poll() is not None:
            raise HubError(f"JupyterHub exited (code {hub.returncode}): {last_error(plan)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.1)
    raise HubError(f"JupyterHub did not answer on {url} within {timeout:.0f} s; see {plan.hub_dir / 'jupyterhub.log'}")


def last_error(plan: HubPlan) -> str:
    lines = (plan.hub_dir / "jupyterhub.log").read_text(errors="replace").strip().splitlines()
    errors = [line for line in lines if " E " in line[:40] or "Error" in line]
    return (errors or lines or ["no log"])[-1][:300] + f" (the whole log: {plan.hub_dir / 'jupyterhub.log'})"


def stop_hub(hub: subprocess.Popen) -> None:
    """SIGTERM (JupyterHub then stops every server and its proxy), and SIGKILL to the group if it lingers.

    A second Ctrl-C or SIGTERM meanwhile is ignored: it would leave the hub running behind this command."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if hub.poll() is None:
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(hub.pid, signal.SIGKILL)
            hub.wait()


def describe(plan: HubPlan, logins: dict[str, str], console: Console) -> None:
    """The mode, the URL and the log-ins, as the person who started the hub reads them."""
    if plan.system_users:
        console.print(
            "[bold]Mode: --system-users[/]: each person's server runs as their own Unix account; homes are "
            "private, and the course, the gradebook and the grader are the instructor's alone."
        )
    else:
        console.print(f"[bold]Mode: trying the course on one machine.[/] [yellow]{TRIAL_WARNING}[/]")
    table = Table(title=f"attnlab hub at {plan.url}")
    table.add_column("log in as", no_wrap=True)
    table.add_column("password", no_wrap=True)  # whole on one line, never cut or folded: print_whole
    table.add_column("role")  # wraps between words where the console is narrow
    for name in plan.people:
        role = "instructor (admin): formgrader, nbgrader's command line" if name == plan.instructor else "student"
        table.add_row(name, logins[name], role)
    print_whole(console, table)
    console.print(f"The log-ins are kept in {plan.passwords} (mode 0600).")
    console.print(
        f"The instructor's JupyterLab opens on the formgrader (Nbgrader > Formgrader); it is also at "
        f"{plan.url}user/{plan.instructor}/formgrader. Students start on a welcome page in their home."
    )
    console.print(f"JupyterHub's log: {plan.hub_dir / 'jupyterhub.log'}. Ctrl-C stops the hub and every server.")


def run(args) -> int:
    """`attnlab hub` from parsed arguments: exit code 0 when Ctrl-C or SIGTERM stops a running hub, 130 when
    they interrupt the set-up; a problem to fix raises HubError (the command line prints it, exit code 2)."""
    from ..course import load_course

    console = console_for(sys.stdout, highlight=False)
    course = load_course(args.course)
    plan = make_plan(
        root=args.course_root,
        students=args.students,
        instructor=args.instructor,
        system_users=args.system_users,
        course_id=course.course_id,
        port=args.port,
        password_file=args.password_file,
        ip=args.ip,
    )
    proxy = prerequisites()
    check_port_free(plan.ip, plan.port)
    plan = dataclasses.replace(plan, proxy=proxy, hub_api_port=free_port(), proxy_api_port=free_port())
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops the hub as Ctrl-C does
    hub = None
    try:
        with steps(console, f"setting up the course in {plan.root}") as say:
            logins = set_up(plan, course, say)
            say("starting JupyterHub and configurable-http-proxy")
            hub = start_hub(plan)
            seconds = wait_ready(plan, hub)
        describe(plan, logins, console)
        console.print(f"Ready: the log-in page answered {seconds:.1f} s after JupyterHub started.")
        while hub.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        # Wherever it lands (setting up, starting, serving), the hub never outlives this command, and a
        # half-made course root is finished at the next start.
        console.print("stopping the hub and every server" if hub is not None else "interrupted while setting up")
        return 0 if hub is not None else 130
    finally:
        if hub is not None:
            stop_hub(hub)
    raise HubError(f"JupyterHub stopped by itself (code {hub.returncode}): {last_error(plan)}")


def _interrupt(*_) -> None:
    raise KeyboardInterrupt
