"""The course root of `attnlab hub`, on disk: made once, reused at every later start.

    <root>/course/          nbgrader's course root: source/ (the five lessons), release/, submitted/,
                            autograded/, feedback/, gradebook.db, nbgrader_config.py (the trusted grader's)
    <root>/exchange/        nbgrader's exchange: <course_id>/outbound, inbound, feedback
    <root>/student-env/     the students' Python: the student build, JupyterLab, nbgrader's student side
    <root>/config/student/  JUPYTER_CONFIG_PATH of students' servers: student id = hub user, no formgrader,
                            no Create Assignment
    <root>/config/instructor/  JUPYTER_CONFIG_PATH of the instructor's server: the course root, the collect,
                            inert views of students' notebooks, the formgrader guard
    <root>/hub/             JupyterHub's own state, the log-ins (0600) and the logs
    <root>/homes/<user>/    each person's home when everyone is the hub's OS user (no --system-users)

Nothing a person made is overwritten: the lessons' sources, `course/nbgrader_config.py` and the
log-ins are written only where they are missing. The Jupyter configuration in `config/` is attnlab's
and is written afresh at every start.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from ..course import Course
from ..exchange import EDITOR_LEFTOVERS
from .plan import HubError, HubPlan

LESSONS = Path(__file__).resolve().parent.parent / "lessons"

#: What no server shows: JupyterLab's offer to fetch Jupyter's news from the internet.
DISABLED_LAB = ("@jupyterlab/apputils-extension:announcements",)

#: What students' servers leave out: the formgrader and the course list are the instructor's, and
#: "Create Assignment" is a tool for writing lessons (nbgrader #1645).
STUDENT_DISABLED_LAB = (
    *DISABLED_LAB,
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:course-list",
)
STUDENT_DISABLED_SERVER = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list")
#: The instructor's course list would list the one course whose formgrader the Nbgrader menu opens already, and
#: asks JupyterHub for a formgrader service this hub does not run: it is not offered.
INSTRUCTOR_DISABLED_LAB = (*DISABLED_LAB, "@jupyter/nbgrader:course-list")
#: The instructor's server extensions: nbgrader's formgrader pages escape the ids they print (an editable install
#: of attnlab does not install the data file that enables the guard elsewhere), and no course list (above).
INSTRUCTOR_SERVER = {"attnlab.formgrader_guard": True, "nbgrader.server_extensions.course_list": False}
#: Who may frame a server's pages: its own origin, and nothing looser. JupyterHub's default, 'none', leaves the
#: formgrader that JupyterLab embeds (Nbgrader > Formgrader) a "refused to connect" page, and a feedback page's
#: own links, which JupyterLab's HTML viewer follows inside its frame, the same.
FRAMES = "frame-ancestors 'self'"

#: What the students' environment installs beside the student build, at the grader's own versions where it
#: has them: the hub and its single-user servers speak the same JupyterHub, and check() computes with the
#: very torch that grades (on a machine like ours, its CPU build: no CUDA wheel of several GB comes in).
STUDENT_PACKAGES = ("torch", "jupyterlab", "nbgrader", "jupyterhub", "ipykernel", "ipywidgets")

Say = Callable[[str], None]


#: What students' JupyterLab does differently from its defaults.
STUDENT_LAB_SETTINGS = {"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Markdown Preview"}}}

#: In each student's home, where missing: the first page a student sees (the spawner opens it while it is there).
WELCOME = "WELCOME.md"
WELCOME_TEXT = """\
# Welcome to {course_id}

Your lessons are in the **Assignments** tab: the **Nbgrader** menu at the top, then **Assignment List**.

1. Under *Released assignments*, press **Fetch** beside `lesson1_qk_scores`. It moves to *Downloaded
   assignments*: open its notebook there.
2. Read from the top and run each cell (Shift+Enter). Where a cell says `raise NotImplementedError`, write your
   code in its place, then run the `check(...)` cell under it: it says PASS or FAIL, names the mistake, and
   shows you a picture of it. `check()` is for you; your grade comes from your instructor's grader.
3. When you are done, press **Submit** beside the lesson in the Assignments tab. You may submit again; the
   last submission counts.
4. Once your instructor has graded it, **Fetch Feedback** in the same tab brings your score and notes back.

Each lesson after the first uses the functions you wrote in the lessons before it, read from their notebooks
where Fetch put them. If one is missing or not finished yet, the lesson says so and goes on without it.

This file is yours: keep notes in it, or delete it.
"""


def write_welcome(plan: HubPlan, student: str, owner: tuple[int, int] | None = None) -> bool:
    """`WELCOME` in `student`'s home where it is missing (owned by `owner`, a uid and gid, when given);
    whether it was written. Never over a file the student has."""
    path = plan.home(student) / WELCOME
    if path.exists() or not path.parent.is_dir():
        return False
    path.write_text(WELCOME_TEXT.format(course_id=plan.course_id), encoding="utf-8")
    if owner is not None:
        os.chown(path, *owner)
    os.chmod(path, 0o644)
    return True


def lessons() -> list[str]:
    """The lessons' ids, in order: the folders of `attnlab/lessons` (the repository's assignments/source)."""
    found = sorted(p.name for p in LESSONS.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
    if not found:
        raise HubError(f"no lessons found in {LESSONS}: reinstall attnlab")
    return found


def make_folders(plan: HubPlan) -> None:
    """The course root's folders. The root is world-traversable: students reach the exchange and their Python."""
    plan.root.mkdir(parents=True, exist_ok=True)
    os.chmod(plan.root, 0o755)
    for path, mode in [
        (plan.hub_dir, 0o700),
        (plan.course_dir, 0o755 if not plan.system_users else 0o700),
        (plan.config_dir("student"), 0o755),
        (plan.config_dir("instructor"), 0o755),
        (plan.root / "config", 0o755),
    ]:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
    # The exchange's root is world-writable, as nbgrader wants it (it resets it to 777 otherwise); the
    # sticky bit, which nbgrader leaves alone, stops a student renaming the course's folder inside it.
    plan.exchange.mkdir(exist_ok=True)
    os.chmod(plan.exchange, 0o1777)
    if not plan.system_users:
        for user in plan.people:
            plan.home(user).mkdir(parents=True, exist_ok=True)
        for student in plan.students:
            write_welcome(plan, student)
    for name in lessons():
        target = plan.course_dir / "source" / name
        if not target.exists():
            shutil.copytree(LESSONS / name, target)


def write_configs(plan: HubPlan, course: Course) -> None:
    """The trusted grader's nbgrader_config.py (where missing), and the instructor's and students' config."""
    from ..nbgrader import nbgrader_config

    course_config = plan.course_dir / "nbgrader_config.py"
    if not course_config.exists():
        course_config.write_text(nbgrader_config(course, exchange_root=str(plan.exchange)), encoding="utf-8")
    (plan.config_dir("instructor") / "nbgrader_config.py").write_text(instructor_config(plan), encoding="utf-8")
    student = plan.config_dir("student")
    (student / "nbgrader_config.py").write_text(student_config(plan), encoding="utf-8")
    _disable_lab(student, STUDENT_DISABLED_LAB)
    _disable_lab(plan.config_dir("instructor"), INSTRUCTOR_DISABLED_LAB)
    _server_config(student, {name: False for name in STUDENT_DISABLED_SERVER})
    _server_config(plan.config_dir("instructor"), INSTRUCTOR_SERVER)
    for path in [*student.rglob("*"), *plan.config_dir("instructor").rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def _server_config(config_dir: Path, extensions: dict[str, bool]) -> None:
    """A server's jupyter_server_config.json: its extensions switched on or off, and `FRAMES`."""
    server = {"jpserver_extensions": extensions, "tornado_settings": {"headers": {"Content-Security-Policy": FRAMES}}}
    (config_dir / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": server}, indent=1) + "\n")


def _disable_lab(config_dir: Path, names: tuple[str, ...]) -> None:
    (config_dir / "labconfig").mkdir(exist_ok=True)
    disabled = {"disabledExtensions": {name: True for name in names}}
    (config_dir / "labconfig" / "page_config.json").write_text(json.dumps(disabled, indent=1) + "\n")


#: The lines of the students' and the instructor's nbgrader config that leave editors' leftovers out of every
#: submission and collect (`attnlab.exchange`).
LEFTOVERS = f"""\
# Checkpoints and the other files editors leave beside a notebook are never submitted or collected.
c.CourseDirectory.ignore = {EDITOR_LEFTOVERS!r}
"""


def student_config(plan: HubPlan) -> str:
    """Students' nbgrader_config.py: the course and exchange, the hub user name as the student id, and what a
    submission leaves out."""
    return f"""# attnlab hub: students' nbgrader configuration, written afresh at every start.
import os

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = {plan.course_id!r}
c.Exchange.root = {str(plan.exchange)!r}
# nbgrader files a submission under the OS user (nbgrader.utils.get_username), which is the hub's own
# account when every server runs as it: the student id is the JupyterHub user name instead.
if os.environ.get("JUPYTERHUB_USER"):
    c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]
{LEFTOVERS}# A submission's log compares the notebooks it submits with the release, not the checkpoints it leaves out.
c.ExchangeFactory.submit = "attnlab.exchange.CourseSubmit"
# Fetched feedback goes to a folder named without spaces (feedback/2026-12-07_11-53-27_UTC/), where the
# Assignment List finds it.
c.ExchangeFactory.fetch_feedback = "attnlab.exchange.CourseFetchFeedback"
c.ExchangeFactory.list = "attnlab.exchange.CourseList"
"""


def instructor_config(plan: HubPlan) -> str:
    """The instructor's nbgrader_config.py: the course root, how submissions are collected, and inert views."""
    from ..nbgrader import INERT_VIEWS

    if plan.system_users:
        owners = (
            "# A submission counts only where its student's own account made it: another student's forgery\n"
            "# (a folder named 'bob+lesson+<later time>') is skipped and logged (nbgrader #978, #1097).\n"
        )
    else:
        owners = (
            "# Every server runs as the hub's OS user here, so no submission's owner is its student.\n"
            "c.ExchangeCollect.check_owner = False\n"
        )
    return f"""# attnlab hub: the instructor's nbgrader configuration, written afresh at every start.
# The trusted grader's settings are in {plan.course_dir / "nbgrader_config.py"}.
c = get_config()  # noqa: F821
c.CourseDirectory.root = {str(plan.course_dir)!r}
c.CourseDirectory.course_id = {plan.course_id!r}
c.Exchange.root = {str(plan.exchange)!r}
# A submission whose student id is not plain (HTML in a folder's name) is skipped and logged.
c.ExchangeFactory.collect = "attnlab.hub.collect.CourseCollect"
{owners}{LEFTOVERS}{INERT_VIEWS}"""


def server_env(plan: HubPlan, user: str) -> dict[str, str]:
    """What a person's server adds to its environment: its Python first on PATH (nbgrader runs `alembic`
    from PATH), and its Jupyter configuration."""
    role = "instructor" if user == plan.instructor else "student"
    return {
        "PATH": f"{plan.bin(user)}{os.pathsep}/usr/local/bin{os.pathsep}/usr/bin{os.pathsep}/bin",
        "JUPYTER_CONFIG_PATH": str(plan.config_dir(role)),
    }


# ------------------------------------------------------------------------------------- the students' Python


def student_packages() -> list[str]:
    """`STUDENT_PACKAGES`, pinned to the versions the grader's environment has."""
    pins = []
    for name in STUDENT_PACKAGES:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def build_student_env(plan: HubPlan, course: Course, say: Say) -> bool:
    """Make the students' environment, or remake it when the student build or the packages changed;
    whether it was (re)made. Its JupyterLab settings (`STUDENT_LAB_SETTINGS`) are written at every start.

    It holds the student build's wheel, never this install: no reference, no mistake models, no grader.
    """
    from ..student_build import build, source_digest

    wanted = {"student_build": source_digest(course), "packages": student_packages(), "python": sys.version.split()[0]}
    marker = plan.student_env / "attnlab-hub.json"
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        _student_lab_settings(plan)
        return False
    if plan.student_env.exists():
        shutil.rmtree(plan.student_env)
    log = plan.hub_dir / "student-env.log"
    with tempfile.TemporaryDirectory(prefix="attnlab-hub-wheel-") as tmp:
        say("building the student wheel (check() and the public cases, no answers)")
        wheel = build(tmp, course)
        say("making the students' Python environment (once; about a minute)")
        _run_logged([sys.executable, "-m", "venv", str(plan.student_env)], log, say)
        pip = [str(plan.student_env / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
        _run_logged([*pip, str(wheel), *wanted["packages"]], log, say)
    marker.write_text(json.dumps(wanted, indent=1) + "\n")
    os.chmod(plan.student_env, 0o755)
    _student_lab_settings(plan)
    return True


def _student_lab_settings(plan: HubPlan) -> None:
    """The students' JupyterLab defaults (`overrides.json` of their environment): a markdown file opens as the
    page it renders to, so that WELCOME.md reads as a page on the first log-in."""
    folder = plan.student_env / "share" / "jupyter" / "lab" / "settings"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "overrides.json").write_text(json.dumps(STUDENT_LAB_SETTINGS, indent=1) + "\n")
    for path in (folder, folder / "overrides.json"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def _run_logged(cmd: list[str], log: Path, say: Say) -> None:
    """Run `cmd`, appending its output to `log` and showing its latest line; HubError if it fails."""
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            out.write(line)
            if line.strip() and not line.startswith("WARNING: Location"):
                say(line.strip()[:100])
        code = proc.wait()
    if code != 0:
        raise HubError(f"{cmd[0]} {cmd[2] if len(cmd) > 2 else ''} failed (exit code {code}); its output is in {log}")


# ------------------------------------------------------------------------------------------ nbgrader's side


def register_students(plan: HubPlan, say: Say) -> bool:
    """Every student in nbgrader's gradebook with their name (`plan.full_names`), as the instructor, where the
    gradebook does not have them so yet; whether it was needed. The formgrader then shows "Lovelace, Ada", or the
    log-in, rather than "None, None"."""
    from .plan import full_names

    names = full_names(plan)
    marker = plan.hub_dir / "students.json"
    wanted = {name: list(first_last) for name, first_last in names.items()}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return False
    say("putting the students' names in nbgrader's gradebook")
    steps = [
        ["db", "student", "add", name, f"--first-name={first}", f"--last-name={last}"]
        for name, (first, last) in names.items()
    ]
    _nbgrader_as_instructor(plan, steps, timeout=300)
    marker.write_text(json.dumps(wanted, indent=1) + "\n")
    return True


def release_lessons(plan: HubPlan, say: Say) -> list[str]:
    """Generate and release every lesson not yet in the exchange, as the instructor; the lessons released."""
    outbound = plan.exchange / plan.course_id / "outbound"
    todo = [name for name in lessons() if not (outbound / name).exists()]
    if not todo:
        return []
    say(f"generating and releasing {', '.join(todo)} with nbgrader")
    steps = []
    for name in todo:
        steps += [["generate_assignment", name, "--force"], ["release_assignment", name, "--force"]]
    _nbgrader_as_instructor(plan, steps, timeout=600)
    return todo


def _nbgrader_as_instructor(plan: HubPlan, steps: list[list[str]], timeout: int) -> None:
    """Run each `nbgrader *args` of `steps` in the course root, as the instructor (their account with
    --system-users) in the instructor's environment; HubError naming the first that fails and its last line."""
    from ..nbgrader.steps import run_steps

    env = {**os.environ, **server_env(plan, plan.instructor), "HOME": str(plan.home(plan.instructor))}
    user = plan.instructor if plan.system_users else None
    for result in run_steps([(plan.course_dir, args) for args in steps], env, timeout=timeout, user=user):
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise HubError(f"`nbgrader {' '.join(result.args[1:4])}` failed: {tail[0][:200]}")
