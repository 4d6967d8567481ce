"""`attnlab hub` in a real JupyterHub, driven in a real browser (Chromium through Playwright).

One course root serves every test: the first `attnlab hub` makes it (the lessons released, the
students' environment built, about a minute), and the later ones reuse it, as an instructor's restart
would. In file order:

Tests 1 and 2 walk the first hour of a new course, from a fresh course root:

1. the student's round trip: alice logs in on the welcome page, fetches lesson 1 from the Assignments tab,
   writes a `qk_scores` that forgets √d, sees check()'s hint and the mistake's picture, fixes it, sees
   PASS, submits (without JupyterLab's checkpoint, and no EXTRA in the log), then fetches lesson 2, which
   reads her own `qk_scores` from lesson 1 with nothing to paste;
2. the instructor's round trip: JupyterLab opens on the embedded formgrader (its own content in the frame,
   no "refused to connect"); the formgrader, in its own tab, lists the students by name, collects,
   autogrades (trusted grades) and releases feedback; alice fetches it into a folder without spaces and
   reads it in JupyterLab's viewer: her trusted score, the maths drawn, no hidden test, a "Test cell" link
   that stays on the page; `nbgrader export` names alice, not the OS user;
3. a restart answers on its log-in page without setting anything up again (its time is measured by
   `benchmarks/hub_start.py`, not here);
4. isolation (`--system-users`, as root): from her own notebook alice cannot read bob's home, his
   submission, the gradebook, the sources or the reference, and bob's submission survives her forgery.

What the browser tests need and the project's set-up installs (`make install`: Chromium with apt as
root, configurable-http-proxy with npm): where a piece is missing, the module is skipped with one line
naming it. Screenshots go to build/screenshots/ (ignored by git); docs/ keeps one of each for the README.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "build" / "screenshots"
LESSON = "lesson1_qk_scores"
# Browser steps wait this long at most (ms): a server's first start and a kernel's torch import on a small machine.
SLOW_MS = 120_000


def _missing() -> str | None:
    try:
        import jupyterhub  # noqa: F401
        import playwright  # noqa: F401
    except ImportError as e:
        return f"{e.name} (pip install -e '.[test]')"
    if shutil.which("chromium") is None:
        return "Chromium (apt-get install -y chromium, as root; `make install` does it)"
    if shutil.which("configurable-http-proxy") is None:
        return "configurable-http-proxy (npm install -g configurable-http-proxy; `make install` does it)"
    return None


if (_piece := _missing()) is not None:
    pytest.skip(f"BROWSER TESTS SKIPPED: missing {_piece}", allow_module_level=True)

from attnlab.hub.course_root import server_env  # noqa: E402
from attnlab.hub.launch import free_port  # noqa: E402
from attnlab.hub.plan import HubPlan, read_passwords  # noqa: E402
from attnlab.nbgrader import GRADED_OUTSIDE  # noqa: E402
from attnlab.nbgrader.steps import run_steps  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402

WRONG = "import math\n\nimport torch\n\n\ndef qk_scores(q, k):\n    return q @ k.transpose(-2, -1)\n"
LESSON2 = "lesson2_softmax"
WELCOMED = "Your lessons are in the Assignments tab"  # the welcome page, as it reads rendered
RIGHT = (
    "import math\n\nimport torch\n\n\ndef qk_scores(q, k):\n"
    "    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])\n"
)


class Hub:
    """One `attnlab hub` process, started and read as a person would from a terminal."""

    def __init__(self, root: Path, *args: str, timeout: float = 600):
        self.root, self.port = root, free_port()
        cmd = [sys.executable, "-m", "attnlab.cli", "hub", "--course-root", str(root), "--port", str(self.port), *args]
        self.log = open(root.parent / f"{root.name}-{self.port}.out", "w+")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, text=True)
        self.started = time.monotonic()
        deadline = self.started + timeout
        while "Ready:" not in self.output():
            assert self.proc.poll() is None, f"attnlab hub exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"attnlab hub was not ready in {timeout} s:\n{self.output()}"
            time.sleep(0.2)
        self.plan = HubPlan.load(root / "hub" / "plan.json")
        self.logins = read_passwords(self.plan.passwords)
        self.url = f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.log.close()


@pytest.fixture(scope="module")
def course_root():
    # Not pytest's own tmp (mode 0700), so that students' accounts can reach it, and not /tmp, where a
    # hostile test's attack walks a limited number of files that a Python environment would use up.
    top = Path(tempfile.mkdtemp(prefix="attnlab-hub-", dir="/var/tmp"))
    top.chmod(0o755)
    root = top / "course"
    yield root
    shutil.rmtree(root.parent, ignore_errors=True)


#: The log-ins file of the trial hub: alice's gives her name, bob's does not (the formgrader then shows his log-in).
LOG_INS = "alice:students-share-1:Alice Liddell\nbob:students-share-1\nteacher:" + "t" * 44 + "\n"


@pytest.fixture(scope="module")
def hub(course_root):
    log_ins = course_root.parent / "log-ins"
    log_ins.write_text(LOG_INS)
    h = Hub(course_root, "--students", "alice,bob", "--instructor", "teacher", "--password-file", str(log_ins))
    yield h
    if h.proc.poll() is None:
        h.stop()


def log_in(browser, hub: Hub, name: str, password: str | None = None) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.set_default_timeout(SLOW_MS)
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password or hub.logins[name])
    page.click("#login_submit")
    page.wait_for_selector(".jp-LabShell")
    if name != hub.plan.instructor:  # a student's lab opens the welcome page last: wait, or it covers what opens next
        page.locator(".jp-RenderedMarkdown", has_text=WELCOMED).first.wait_for()
    return page


def menu(page: Page, top: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).click()


def assignments(page: Page) -> None:
    """Open (or show again) the Assignments tab."""
    tab = page.locator(".lm-TabBar-tab", has_text="Assignments")
    if tab.count():
        tab.first.click()
    else:
        menu(page, "Nbgrader", "Assignment List")
    page.wait_for_selector("#released_assignments_list")


def set_code(page: Page, cell, code: str) -> None:
    """Replace a code cell's text, as a student would: click in it, select all, type."""
    editor = cell.locator(".cm-content")
    first = code.strip().splitlines()[0]
    for _ in range(3):  # a notebook that has just opened may not take the first keys yet
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(code)
        try:
            expect(editor).to_contain_text(first, timeout=5000)
            return
        except AssertionError:
            page.wait_for_timeout(1000)
    expect(editor).to_contain_text(first)


def kernel_idle(page: Page) -> None:
    """Wait until the open notebook's kernel is connected and idle (the status bar says so): a run sent
    before that is dropped, which a busy machine makes likely."""
    page.get_by_role("button", name=re.compile(r"\| Idle$")).first.wait_for()


def run_until(page: Page, cell, text: str | None = None):
    """Run `cell` in place until it has run (and its output shows `text`); its output area. A run that the
    notebook dropped (its prompt, `[ ]:` or `[n]:`, unchanged) is sent again, as a student would."""
    out, prompt = cell.locator(".jp-OutputArea"), cell.locator(".jp-InputPrompt")
    before = prompt.inner_text()
    for _ in range(3):
        cell.locator(".cm-content").click()
        page.keyboard.press("Control+Enter")
        try:
            expect(prompt).not_to_have_text(before, timeout=10_000)
            break
        except AssertionError:
            kernel_idle(page)
    expect(prompt).to_have_text(re.compile(r"^\[\d+\]:$"), timeout=SLOW_MS)  # run to its end
    if text is not None:
        expect(out).to_contain_text(text)
    return out


def shot(locator, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    locator.screenshot(path=str(SHOTS / name))


# ------------------------------------------------------------------------------------------------ tests


def test_student_round_trip(hub, browser):
    page = log_in(browser, hub, "alice")
    # Her first page: the welcome page in her home, rendered, saying where the lessons are.
    expect(page.locator(".jp-RenderedMarkdown", has_text=WELCOMED).first).to_be_visible()
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Nbgrader$")).click()
    items = [t for t in page.locator(".lm-Menu-itemLabel").all_inner_texts() if t.strip()]
    assert items == ["Assignment List"], f"a student's Nbgrader menu shows {items}"  # no Create Assignment
    page.keyboard.press("Escape")
    assert page.request.get(f"{hub.url}/user/alice/formgrader").status == 404
    assignments(page)
    page.locator("#released_assignments_list .list_item", has_text=LESSON).locator("button", has_text="Fetch").click()
    fetched = page.locator("#fetched_assignments_list .list_item", has_text=LESSON).first
    fetched.locator("a.assignment-notebooks-link").click()
    fetched.locator(".nested_list_item a", has_text=LESSON).click()
    notebook = page.locator(".jp-NotebookPanel:visible")
    stub = notebook.locator(".jp-CodeCell", has_text="def qk_scores").first
    stub.wait_for()

    kernel_idle(page)
    set_code(page, stub, WRONG)
    menu(page, "Run", "Run All Cells")
    check = notebook.locator(".jp-CodeCell", has_text="check(qk_scores)").first
    expect(check.locator(".jp-OutputArea")).to_contain_text("FAIL qk_scores", timeout=SLOW_MS)
    output = check.locator(".jp-OutputArea")
    expect(output).to_contain_text("sqrt(d)")
    expect(output.locator("img")).to_have_count(1)  # the mistake's picture: yours, expected, the difference
    check.scroll_into_view_if_needed()
    shot(check, "hub-student-mistake.png")

    set_code(page, stub, RIGHT)
    run_until(page, stub)
    run_until(page, check, "PASS qk_scores")
    page.keyboard.press("Control+s")
    expect(page.locator(".jp-mod-dirty")).to_have_count(0)

    assignments(page)
    fetched.locator("button", has_text="Submit").click()
    submitted = page.locator("#submitted_assignments_list .list_item", has_text=LESSON)
    expect(submitted.first).to_be_visible()
    inbound = hub.plan.exchange / hub.plan.course_id / "inbound"
    (submission,) = [p for p in inbound.iterdir() if p.name.startswith(f"alice+{LESSON}+")]
    # JupyterLab saved a checkpoint beside her notebook; nbgrader's submit leaves it out, and says nothing of it.
    assert list((hub.plan.home("alice") / LESSON).glob(".ipynb_checkpoints/*.ipynb")), "no checkpoint was made"
    assert not list(submission.rglob(".ipynb_checkpoints")), "the checkpoint was submitted"
    assert "EXTRA" not in (hub.plan.hub_dir / "jupyterhub.log").read_text(errors="replace")

    # Lesson 2 reads her qk_scores from her lesson 1: nothing to paste.
    assignments(page)
    page.locator("#released_assignments_list .list_item", has_text=LESSON2).locator("button", has_text="Fetch").click()
    fetched2 = page.locator("#fetched_assignments_list .list_item", has_text=LESSON2).first
    fetched2.locator("a.assignment-notebooks-link").click()
    fetched2.locator(".nested_list_item a", has_text=LESSON2).click()
    reads = page.locator(".jp-NotebookPanel:visible .jp-CodeCell", has_text='earlier("qk_scores")').first
    reads.wait_for()
    kernel_idle(page)
    run_until(page, reads, f"qk_scores: yours, from ../{LESSON}/{LESSON}.ipynb, which passes its check.")
    page.context.close()


def test_instructor_round_trip(hub, browser):
    inbound = hub.plan.exchange / hub.plan.course_id / "inbound"
    if not any(inbound.glob(f"alice+{LESSON}+*")):
        pytest.fail("alice has no submission: test_student_round_trip failed before this")
    page = log_in(browser, hub, "teacher")
    # Their first page: JupyterLab with the formgrader embedded (it may be framed by its own origin).
    embedded = page.frame_locator(".jp-MainAreaWidget iframe").first
    expect(embedded.locator("body")).to_contain_text("Manage Assignments", timeout=SLOW_MS)
    grader = page.context.new_page()  # and in a tab of its own, where the clicks below are made
    grader.set_default_timeout(SLOW_MS)
    grader.goto(f"{hub.url}/user/teacher/formgrader")
    row = grader.locator("tr", has_text=LESSON)
    formgrader_action(grader, row.locator("td.collect a"))
    grader.goto(f"{hub.url}/user/teacher/formgrader/manage_students")
    expect(grader.locator("table").first).to_contain_text("Liddell, Alice")  # her name, from the log-ins file
    expect(grader.locator("table").first).to_contain_text("bob")  # his log-in, where the file gives no name
    expect(grader.locator("table").first).not_to_contain_text("None, None")
    grader.goto(f"{hub.url}/user/teacher/formgrader/manage_submissions/{LESSON}")
    student = grader.locator("tr", has_text="alice")
    formgrader_action(grader, student.locator("td.autograde a"))
    expect(student.locator("td.score")).to_have_text("15 / 15")  # lesson 1's points, from the trusted grader
    grader.goto(f"{hub.url}/user/teacher/formgrader")
    formgrader_action(grader, row.locator("td.generate-feedback a"))
    formgrader_action(grader, row.locator("td.release-feedback a"))
    page.context.close()

    alice = log_in(browser, hub, "alice")
    assignments(alice)
    lesson = alice.locator("#submitted_assignments_list .list_item", has_text=LESSON).first
    lesson.locator("button", has_text="Fetch Feedback").click()
    lesson.locator("a", has_text="view feedback").first.click()  # shows the feedback's folder
    # ... named without spaces (attnlab.exchange.CourseFetchFeedback), where the Assignment List found it.
    expect(alice.locator(".jp-BreadCrumbs")).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_UTC"))
    (fetched,) = (hub.plan.home("alice") / LESSON / "feedback").iterdir()
    assert " " not in fetched.name and ":" not in fetched.name, fetched.name
    # In JupyterLab's own HTML viewer, the score summary's links move within the page.
    alice.locator(".jp-DirListing-item", has_text=f"{LESSON}.html").dblclick()
    viewer = alice.frame_locator(".jp-HTMLViewer iframe").first
    expect(viewer.locator("body")).to_contain_text("Score: 15.0 / 15.0")
    # Its maths are MathML, drawn by the browser: the viewer runs no script, and the hub may be offline.
    expect(viewer.locator("math").first).to_be_visible()
    assert "\\sqrt" not in viewer.locator("body").inner_text()
    viewer.locator("a", has_text="Test cell").first.click()
    expect(viewer.locator("body")).to_contain_text("Score: 15.0 / 15.0")  # still the feedback, not a refusal
    alice.locator(".jp-DirListing-item", has_text=f"{LESSON}.html").click(button="right")
    with alice.context.expect_page() as opened:
        alice.locator(".lm-Menu-itemLabel", has_text=re.compile("^Open in New Browser Tab$")).click()
    feedback = opened.value
    feedback.wait_for_load_state()
    expect(feedback.locator("body")).to_contain_text("Score: 15.0 / 15.0")
    text = feedback.locator("body").inner_text()
    assert "attnlab" in text and "HIDDEN TESTS" not in text and "assert " not in text, text[:2000]
    # The picture for the README: the graded cell and the trusted grader's words under it.
    top = feedback.locator("div.nbgrader_cell", has_text="Grade cell").last.bounding_box()
    end = feedback.get_by_text("Graded by attnlab").last.bounding_box()
    SHOTS.mkdir(parents=True, exist_ok=True)
    feedback.screenshot(
        path=str(SHOTS / "hub-feedback.png"),
        full_page=True,
        clip={
            "x": top["x"] - 8,
            "y": top["y"] - 8,
            "width": top["width"] + 16,
            "height": end["y"] + end["height"] - top["y"] + 16,
        },
    )
    alice.context.close()

    env = {**os.environ, **server_env(hub.plan, hub.plan.instructor)}  # as in the instructor's terminal
    (export,) = run_steps([(hub.plan.course_dir, ["export", "--to", str(hub.root.parent / "grades.csv")])], env)
    assert export.returncode == 0, export.stderr
    grades = (hub.root.parent / "grades.csv").read_text()
    assert re.search(rf"^{LESSON},.*,alice,", grades, re.M), grades
    assert "root" not in grades, grades


def formgrader_action(page: Page, link) -> None:
    """Click one of the formgrader's action icons and wait for its modal: success, or fail with its log."""
    link.click()
    modal = page.locator("#success-modal, #error-modal")
    modal.wait_for()
    assert modal.get_attribute("id") == "success-modal", modal.inner_text()
    modal.locator(".modal-footer button").first.click()
    expect(modal).to_have_count(0)


def test_restart_answers_without_setting_up_again(hub, browser):
    marker = hub.plan.student_env / "attnlab-hub.json"
    before = marker.stat().st_mtime_ns
    hub.stop()
    again = Hub(hub.root, "--students", "alice,bob", "--instructor", "teacher", timeout=120)
    try:
        assert marker.stat().st_mtime_ns == before, "the students' environment was built again"
        seconds = float(re.search(r"answered ([0-9.]+) s", again.output()).group(1))
        print(f"restart: the log-in page answered {seconds:.1f} s after JupyterHub started")
        page = browser.new_page()
        page.goto(f"{again.url}/hub/login")
        expect(page.locator("#username_input")).to_be_visible()
        page.close()
    finally:
        again.stop()


# ---------------------------------------------------------------------------------------- --system-users

STUDENTS, TEACHER = ("attn_alice", "attn_bob"), "attn_teacher"

ATTACK = """import json, os
E, C = {exchange!r}, {course!r}
tried = {{}}
def attempt(name, fn):
    try:
        fn()
        tried[name] = "done"
    except Exception as e:
        tried[name] = type(e).__name__
def forge():  # a submission named as bob's, later than his: nbgrader alone would collect it as his
    d = os.path.join(E, {course_id!r}, "inbound", "attn_bob+{lesson}+2099-01-01 00:00:00.000000 UTC+forged")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, {lesson!r} + ".ipynb"), "w") as f:
        f.write('{{"cells": [], "metadata": {{}}, "nbformat": 4, "nbformat_minor": 5}}')
    with open(os.path.join(d, "timestamp.txt"), "w") as f:
        f.write("2099-01-01 00:00:00.000000 UTC")
attempt("bob_home", lambda: os.listdir("/home/attn_bob"))
attempt("inbound_list", lambda: os.listdir(os.path.join(E, {course_id!r}, "inbound")))
attempt("gradebook", lambda: open(os.path.join(C, "gradebook.db"), "rb").read(1))
attempt("sources", lambda: open(os.path.join(C, "source", {lesson!r}, {lesson!r} + ".ipynb")).read(1))
attempt("course_list", lambda: os.listdir(C))
attempt("reference_import", lambda: __import__("attnlab.reference"))
attempt("reference_file", lambda: open({reference!r}).read(1))
attempt("rename_course", lambda: os.rename(os.path.join(E, {course_id!r}), os.path.join(E, "mine")))
attempt("outbound_write", lambda: open(os.path.join(E, {course_id!r}, "outbound", {lesson!r}, "x.ipynb"), "w"))
attempt("forge_bob", forge)
print("ATTACK " + json.dumps(tried, sort_keys=True))
"""


@pytest.fixture(scope="module")
def class_hub(course_root):
    if os.geteuid() != 0:
        pytest.skip("ISOLATION TEST SKIPPED: --system-users needs root")
    from attnlab.hub.accounts import grader_paths

    for name in (*STUDENTS, TEACHER):  # a clean slate: accounts an interrupted run left would keep old passwords
        subprocess.run(["userdel", "--remove", name], capture_output=True)
    locked = {p: (p.stat().st_mode, p.stat().st_uid, p.stat().st_gid) for p in grader_paths()}
    passwords = course_root.parent / "class-passwords"
    # A class server's Python must be runnable by every account. Where this machine keeps it in a folder
    # closed to them (pyenv under /root), the test lets them through that folder (o+x, no listing) while it
    # runs; `attnlab hub --system-users` refuses such a Python with one line (tests/unit/test_hub.py).
    python = Path(sys.executable).resolve()
    opened = {f: f.stat().st_mode for f in python.parents if not f.stat().st_mode & 0o001}
    for folder, mode in opened.items():
        folder.chmod(mode | 0o001)
    h = None
    try:
        h = Hub(
            course_root,
            "--system-users",
            "--students",
            ",".join(STUDENTS),
            "--instructor",
            TEACHER,
            "--password-file",
            str(passwords),
        )
        yield h
    finally:
        if h is not None:
            h.stop()
        for path, (mode, uid, gid) in locked.items():  # give the checkout back to the developer
            os.chown(path, uid, gid)
            os.chmod(path, mode)
        for folder, mode in opened.items():
            folder.chmod(mode)
        for name in (*STUDENTS, TEACHER):
            subprocess.run(["userdel", "--remove", name], capture_output=True)


def as_student(hub: Hub, name: str, *args: str) -> subprocess.CompletedProcess:
    """`nbgrader ARGS` from the student's own account and Python, as in a terminal of theirs."""
    env = {
        "HOME": f"/home/{name}",
        "PATH": f"{hub.plan.student_env / 'bin'}:/usr/bin:/bin",
        "JUPYTERHUB_USER": name,
        "JUPYTER_CONFIG_PATH": str(hub.plan.config_dir("student")),
    }
    return subprocess.run(
        [str(hub.plan.student_env / "bin" / "nbgrader"), *args],
        cwd=f"/home/{name}",
        env=env,
        capture_output=True,
        text=True,
        user=name,
        group=name,
        extra_groups=[],
        timeout=120,
    )


def test_students_are_isolated_from_each_other(class_hub, browser):
    hub = class_hub
    bob, alice = STUDENTS[1], STUDENTS[0]
    for step in (["fetch_assignment", LESSON], ["submit", LESSON]):
        done = as_student(hub, bob, *step)
        assert done.returncode == 0, done.stderr
    (bobs,) = [p for p in (hub.plan.exchange / hub.plan.course_id / "inbound").glob(f"{bob}+{LESSON}+*")]
    bob_notebook = hashlib.sha256((bobs / f"{LESSON}.ipynb").read_bytes()).hexdigest()

    page = log_in(browser, hub, alice)
    menu(page, "File", "New Launcher")  # she starts on the welcome page: a launcher, to make a notebook
    page.locator(".jp-LauncherCard", has_text="Python 3").first.click()
    cell = page.locator(".jp-NotebookPanel:visible .jp-CodeCell").first
    from attnlab.hub.accounts import grader_paths

    reference = grader_paths()[0] / ("reference/attention.py" if (grader_paths()[0] / "reference").is_dir() else "")
    code = ATTACK.format(
        exchange=str(hub.plan.exchange),
        course=str(hub.plan.course_dir),
        course_id=hub.plan.course_id,
        lesson=LESSON,
        reference=str(reference),
    )
    kernel_idle(page)
    set_code(page, cell, code)
    out = run_until(page, cell, "ATTACK")
    tried = json.loads(re.search(r"ATTACK (\{.*\})", out.inner_text()).group(1))
    page.context.close()
    blocked = {k: v for k, v in tried.items() if k != "forge_bob"}
    assert all(v in ("PermissionError", "ModuleNotFoundError") for v in blocked.values()), tried
    assert tried["reference_import"] == "ModuleNotFoundError", tried

    env = {**os.environ, **server_env(hub.plan, hub.plan.instructor)}  # as in the instructor's terminal
    (collect,) = run_steps([(hub.plan.course_dir, ["collect", LESSON])], env, user=TEACHER)
    assert collect.returncode == 0, collect.stderr
    # The forgery itself succeeds (inbound is writable by every student, as nbgrader needs), so only
    # collect's owner check stands between it and bob's grade.
    assert tried["forge_bob"] == "done", tried
    assert "forged: it claims to be attn_bob's but attn_alice made it" in collect.stderr, collect.stderr
    collected = hub.plan.course_dir / "submitted" / bob / LESSON / f"{LESSON}.ipynb"
    assert hashlib.sha256(collected.read_bytes()).hexdigest() == bob_notebook, "bob's submission was replaced"

    # The instructor's account, not root, grades: the trusted grader's sandbox works there too.
    (autograde,) = run_steps([(hub.plan.course_dir, ["autograde", LESSON, "--student", bob])], env, user=TEACHER)
    assert autograde.returncode == 0, autograde.stderr
    graded = hub.plan.course_dir / "autograded" / bob / LESSON / f"{LESSON}.ipynb"
    assert GRADED_OUTSIDE in graded.read_text(), "the grade cells hold the trusted grader's verdict"
