"""`attnlab hub --system-users`: a Unix account per person, and what only the instructor may read.

- Each student and the instructor get an account (made where missing, `useradd --create-home`), with a
  private home (0700); an account attnlab made gets the password from the log-ins file (`chpasswd`), one
  that was there before keeps its own. JupyterHub checks it with PAM. A student's home gets the welcome
  page where it has none (`course_root.write_welcome`), owned by the student.
- The course root (`<root>/course`: sources with solutions and hidden tests, submissions, the
  gradebook) belongs to the instructor's account, mode 0700.
- The grader's install is closed to everyone but root and the instructor's group (mode 0750): for an
  editable install the whole checkout (it holds the reference, the answers, the lessons' solutions and
  the tests' correct submissions), else the installed `attnlab` package.
- The exchange keeps nbgrader's permissions, plus the sticky bit on its root and `inbound`, so that no
  student renames the course's folder or another's submission; collecting skips a submission that its
  student's account did not make (`attnlab.hub.collect`).

Everything here needs root; `require_root` refuses, in one line, where it is missing.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

from .course_root import write_welcome
from .plan import HubError, HubPlan


def require_root() -> None:
    """Refuse --system-users where the machine does not allow it, with one line that says why."""
    if os.geteuid() != 0:
        raise HubError(
            "--system-users makes a Unix account per person and runs each server as it, which needs root; "
            "run it as root, or leave --system-users out to try the course as one user"
        )
    missing = [tool for tool in ("useradd", "chpasswd") if shutil.which(tool) is None]
    if missing:
        raise HubError(f"--system-users needs {' and '.join(missing)} (Debian's passwd package); install it")


def check_reachable(plan: HubPlan) -> None:
    """Every account must reach the course root (the exchange, the students' Python) and run the Python
    interpreter that both environments are made from."""
    closed = closed_folder(plan.exchange)  # the course root and every folder above it
    if closed is not None:
        raise HubError(
            f"students cannot reach {plan.root}: {closed} is closed to other accounts; "
            "choose a --course-root they can reach, such as /srv/attnlab"
        )
    python = Path(sys.executable).resolve()
    closed = closed_folder(python) or closed_folder(Path(sys.base_prefix).resolve() / "lib")
    if closed is not None:
        raise HubError(
            f"other accounts cannot run this Python ({python}): {closed} is closed to them; install attnlab "
            "with a Python every account can run, for example `/usr/bin/python3 -m venv /opt/attnlab`"
        )


def closed_folder(path: Path) -> Path | None:
    """The first folder above `path`, from the top, that other accounts cannot pass through, if any."""
    for folder in reversed(path.parents):
        if folder.exists() and not os.stat(folder).st_mode & 0o001:
            return folder
    return None


def ensure_accounts(plan: HubPlan, logins: dict[str, str]) -> set[str]:
    """Make the accounts that are missing and make every home private; the accounts that were there before.

    The log-ins file sets the password of the accounts attnlab made (listed in `<root>/hub/accounts`),
    never of one that was there before it: that account's person logs in with their own password.
    """
    record = plan.hub_dir / "accounts"
    ours = set(record.read_text().split()) if record.exists() else set()
    for name in plan.people:
        try:
            pwd.getpwnam(name)
        except KeyError:
            _run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name])
            ours.add(name)
            record.write_text("".join(f"{n}\n" for n in sorted(ours)))
        home = plan.home(name)
        home.mkdir(parents=True, exist_ok=True)
        entry = pwd.getpwnam(name)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        os.chmod(home, 0o700)
        if name in plan.students:
            write_welcome(plan, name, owner=(entry.pw_uid, entry.pw_gid))
    managed = [name for name in plan.people if name in ours]
    if managed:
        _run(["chpasswd"], stdin="".join(f"{name}:{logins[name]}\n" for name in managed))
    return {name for name in plan.people if name not in ours}


def instructor_only(plan: HubPlan, grader_paths: list[Path]) -> list[Path]:
    """Close the course root and `grader_paths` to all but root and the instructor; the paths closed."""
    entry = pwd.getpwnam(plan.instructor)
    for path in [plan.course_dir, *plan.course_dir.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    os.chmod(plan.course_dir, 0o700)
    for path in grader_paths:
        os.chown(path, 0, entry.pw_gid)
        os.chmod(path, 0o750)
    return [plan.course_dir, *grader_paths]


def protect_exchange(plan: HubPlan) -> None:
    """The exchange as nbgrader keeps it, the instructor's, with the sticky bit where students share a folder.

    The instructor owns the exchange, the course's folder, what it released and the feedback; students own
    their submissions in `inbound`, which stay theirs (a course first run without --system-users has
    everything as the hub's user: the instructor takes it over here).
    """
    entry = pwd.getpwnam(plan.instructor)
    course = plan.exchange / plan.course_id
    owned = [plan.exchange, course, course / "inbound"]
    for folder in (course / "outbound", course / "feedback"):
        owned += [folder, *folder.rglob("*")] if folder.exists() else []
    for path in owned:
        if path.exists():
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    os.chmod(plan.exchange, 0o1777)
    if (course / "inbound").is_dir():
        os.chmod(course / "inbound", 0o3733)  # nbgrader's 2733, and sticky


def grader_paths() -> list[Path]:
    """What holds the grader and its answers: the checkout of an editable install, else the package."""
    package = Path(__file__).resolve().parent.parent  # attnlab/, above hub/
    checkout = package.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "reference").is_dir():
        return [checkout]
    return [package]


def group_name(user: str) -> str:
    return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name


def _run(cmd: list[str], stdin: str | None = None) -> None:
    result = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or [f"exit code {result.returncode}"]
        raise HubError(f"`{cmd[0]}` failed: {reason[0]}")
