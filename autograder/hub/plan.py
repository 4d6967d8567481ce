"""What one `attnlab hub` is made of, as plain data: its folders, people, mode and ports, and the log-ins.

`HubPlan` is written to `<course root>/hub/plan.json` at start; the hub's configuration and its spawners
read it back from there, so the command line, the hub process and the tests agree on one record.
Nothing here starts a process or touches the machine's accounts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

#: A name that is a valid Unix account, a JupyterHub user and an nbgrader student id (no '+', no '*').
NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")

#: JupyterHub's SharedPasswordAuthenticator wants at least this many characters for an admin's password.
ADMIN_PASSWORD_MIN = 32
USER_PASSWORD_MIN = 8


class HubError(Exception):
    """A problem the person starting the hub can fix; its message is one line that says what to fix."""


@dataclass(frozen=True)
class HubPlan:
    root: Path  # --course-root: everything below lives here
    students: tuple[str, ...]
    instructor: str
    system_users: bool  # False: one OS user for all (trying the course); True: an account per person
    course_id: str
    port: int = 8000  # where people connect (the proxy's public port)
    ip: str = "127.0.0.1"
    hub_api_port: int = 8081  # the hub's own API and the proxy's REST API, both on 127.0.0.1
    proxy_api_port: int = 8001
    password_file: Path | None = None  # None: <root>/hub/passwords
    proxy: str = "configurable-http-proxy"  # the proxy's command (npm's configurable-http-proxy)
    grader_prefix: Path = Path(sys.prefix)  # the environment with the full attnlab: the hub's and the instructor's

    @property
    def course_dir(self) -> Path:
        """nbgrader's course root: source/, release/, submitted/, autograded/, feedback/, gradebook.db."""
        return self.root / "course"

    @property
    def exchange(self) -> Path:
        return self.root / "exchange"

    @property
    def student_env(self) -> Path:
        """The students' Python: the student build, JupyterLab and nbgrader's student extensions."""
        return self.root / "student-env"

    @property
    def hub_dir(self) -> Path:
        """JupyterHub's state: its config, database, cookie secret, the log-ins and the log."""
        return self.root / "hub"

    @property
    def passwords(self) -> Path:
        return self.password_file or self.hub_dir / "passwords"

    def config_dir(self, role: str) -> Path:
        """The Jupyter config folder (`JUPYTER_CONFIG_PATH`) of 'student' or 'instructor' servers."""
        return self.root / "config" / role

    @property
    def people(self) -> tuple[str, ...]:
        return (*self.students, self.instructor)

    def home(self, user: str) -> Path:
        """A person's home: their account's under --system-users, else a folder of the course root."""
        if self.system_users:
            import pwd

            return Path(pwd.getpwnam(user).pw_dir)
        return self.root / "homes" / user

    def bin(self, user: str) -> Path:
        """The bin/ of the Python environment `user`'s server runs in."""
        return self.grader_prefix / "bin" if user == self.instructor else self.student_env / "bin"

    @property
    def url(self) -> str:
        host = "localhost" if self.ip in ("127.0.0.1", "0.0.0.0", "") else self.ip
        return f"http://{host}:{self.port}/"

    def to_json(self) -> str:
        data = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}
        return json.dumps(data, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> HubPlan:
        data = json.loads(text)
        for key in ("root", "grader_prefix", "password_file"):
            if data.get(key) is not None:
                data[key] = Path(data[key])
        data["students"] = tuple(data["students"])
        return cls(**data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> HubPlan:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def make_plan(
    *,
    root: str | os.PathLike,
    students: str | list[str],
    instructor: str,
    system_users: bool,
    course_id: str,
    port: int = 8000,
    password_file: str | os.PathLike | None = None,
    ip: str = "127.0.0.1",
) -> HubPlan:
    """Check the command line's people and ports, and make the plan; raise HubError naming what to fix."""
    if isinstance(students, str):
        students = [s.strip() for s in students.split(",") if s.strip()]
    if not students:
        raise HubError("--students is empty: give at least one student name, for example --students alice,bob")
    for name in [*students, instructor]:
        if not NAME.match(name):
            raise HubError(
                f"{name!r} cannot be a log-in name: use lowercase letters, digits, '_' or '-', starting with a letter"
            )
    if len(set(students)) != len(students):
        dup = next(s for s in students if students.count(s) > 1)
        raise HubError(f"--students names {dup!r} twice")
    if instructor in students:
        raise HubError(f"{instructor!r} is both the instructor and a student: give the instructor another name")
    if not 1 <= port <= 65535:
        raise HubError(f"--port {port} is not a port number (1-65535)")
    return HubPlan(
        root=Path(root).expanduser().resolve(),
        students=tuple(students),
        instructor=instructor,
        system_users=system_users,
        course_id=course_id,
        port=port,
        ip=ip,
        password_file=Path(password_file).expanduser().resolve() if password_file else None,
    )


# ----------------------------------------------------------------------------------------------- log-ins


def read_logins(path: Path) -> dict[str, tuple[str, str | None]]:
    """`name:password` or `name:password:Full Name` lines: {name: (password, full name or None)}. Blank lines and
    `#` comments are skipped; a password holds no ':' (the third field is the person's name)."""
    logins: dict[str, tuple[str, str | None]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, rest = line.partition(":")
        password, _, full_name = rest.partition(":")
        if not sep or not name.strip() or not password:
            raise HubError(
                f"{path}:{number}: expected 'name:password' or 'name:password:Full Name', got {line.strip()[:40]!r}"
            )
        logins[name.strip()] = (password, " ".join(full_name.split()) or None)
    return logins


def read_passwords(path: Path) -> dict[str, str]:
    """{name: password} of the log-ins file (`read_logins`)."""
    return {name: password for name, (password, _) in read_logins(path).items()}


def full_names(plan: HubPlan) -> dict[str, tuple[str, str]]:
    """Each student's (first name, last name) as nbgrader's gradebook keeps them: from the log-ins file's third
    field where it gives one ('Ada Lovelace' -> ('Ada', 'Lovelace')), else ('', the log-in name), so that the
    formgrader's "last, first" shows the log-in rather than "None, None"."""
    given = read_logins(plan.passwords) if plan.passwords.exists() else {}
    out = {}
    for name in plan.students:
        full = given.get(name, ("", None))[1]
        first, _, last = (full or "").rpartition(" ")
        out[name] = (first, last) if full else ("", name)
    return out


def ensure_passwords(plan: HubPlan) -> dict[str, str]:
    """Every person's password, from `plan.passwords`; people it lacks get a fresh one, appended to it.

    Without --system-users, JupyterHub's SharedPasswordAuthenticator checks one password shared by all
    students and one for the instructor (at least 32 characters). With it, every account has its own:
    a password shared by the class would let any student log in as any other.
    """
    path = plan.passwords
    logins = read_passwords(path) if path.exists() else {}
    shared = next((logins[s] for s in plan.students if s in logins), None)
    added = {}
    for name in plan.people:
        if name in logins:
            continue
        if name == plan.instructor:
            added[name] = secrets.token_urlsafe(33)  # 44 characters
        elif plan.system_users:
            added[name] = secrets.token_urlsafe(12)
        else:
            shared = shared or secrets.token_urlsafe(12)
            added[name] = shared
    if added:
        path.parent.mkdir(parents=True, exist_ok=True)
        header = "# attnlab hub log-ins: name:password, or name:password:Full Name\n"
        old = path.read_text(encoding="utf-8") if path.exists() else header
        body = old + ("" if old.endswith("\n") else "\n") + "".join(f"{n}:{p}\n" for n, p in added.items())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(body)
        logins.update(added)
    check_passwords(plan, logins)
    return {name: logins[name] for name in plan.people}


def check_passwords(plan: HubPlan, logins: dict[str, str]) -> None:
    """Raise HubError where the log-ins cannot work in the plan's mode."""
    for name in plan.people:
        if len(logins[name]) < USER_PASSWORD_MIN:
            raise HubError(f"{plan.passwords}: {name}'s password is shorter than {USER_PASSWORD_MIN} characters")
    if plan.system_users:
        seen: dict[str, str] = {}
        for name in plan.people:
            if logins[name] in seen:
                raise HubError(
                    f"{plan.passwords}: {seen[logins[name]]} and {name} share a password, so either could log in "
                    "as the other; with --system-users give each person their own (or delete the file for fresh ones)"
                )
            seen[logins[name]] = name
        return
    if len({logins[s] for s in plan.students}) > 1:
        raise HubError(
            f"{plan.passwords}: without --system-users the students share one password (JupyterHub's "
            "shared-password log-in); give them the same one, or use --system-users"
        )
    if len(logins[plan.instructor]) < ADMIN_PASSWORD_MIN:
        raise HubError(
            f"{plan.passwords}: the instructor's password must be at least {ADMIN_PASSWORD_MIN} characters "
            "without --system-users (JupyterHub's admin password)"
        )
    if logins[plan.instructor] == logins[plan.students[0]]:
        raise HubError(f"{plan.passwords}: the instructor's password must differ from the students'")
