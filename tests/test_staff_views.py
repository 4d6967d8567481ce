"""Nothing a student writes runs in a page that someone else opens: a hostile notebook through real nbgrader,
a real formgrader and `attnlab report`, every page opened in Chromium.

The course is lesson 1 with the configuration `attnlab nbgrader-config` writes. Three students hand in:

- **mallory**, a notebook with every vector we know of: saved outputs of every rich kind (HTML, JavaScript,
  SVG, markdown, a widget, an image whose width is an event handler), a cell that displays them all again
  and raises an exception whose text is HTML when the kernel runs it (this autograde runs it, as
  `run_kernel = "always"` does), a ``qk_scores`` whose exception message is HTML, and markdown answers with
  raw HTML (``<img onerror>``, ``<script>``, ``<iframe srcdoc>``, ``<svg onload>``, ``autofocus``, a
  ``javascript:`` link) beside honest text;
- a student whose id is HTML (a folder name can hold it), who forgot to divide by √d;
- **eve** (and **zed**), with right work; eve's autograded notebook is then replaced by mallory's raw
  submission, as a notebook autograded elsewhere could be: the formgrader must show even that inert.

Every payload, when it runs, logs ``PWNED:<vector>`` and marks the page's root element. The tests open the
formgrader's view of each submission, its lists, its students' pages (the guard's), the feedback pages and
the class report, and find no mark, while the students' text and the trusted scores are there. The controls
render the same inputs without the defences (nbgrader's own exporter and template, nbgrader's own Jinja
environment, the report's escaping and policy switched off) and see the marks, so the detector can fail.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import nbformat
import pytest
from conftest import skip_without_browser
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output

pytestmark = pytest.mark.slow

skip_without_browser()

from nbgrader_class import TIMESTAMP, student_notebook, write_course  # noqa: E402
from test_nbgrader import nbgrader  # noqa: E402

LESSON = "lesson1_qk_scores"
ANSWER = "My answer: the weights of each row add up to 1, a budget the query spends over the keys."


def attack(vector: str) -> str:
    """JavaScript that leaves the vector's mark, with no space or slash (it must fit a folder's name)."""
    return (
        f"console.log('PWNED:{vector}');"
        f"try{{top.document.documentElement.setAttribute('data-pwned-{vector}','')}}catch(e){{}}"
    )


HOSTILE_ID = f"<svg onload={attack('student_id')}>"


def png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 3), (220, 40, 40)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def rich_outputs() -> list[tuple[dict, dict]]:
    """(data, metadata) of each hostile display: what the cell below displays, and what is saved with it."""
    return [
        ({"text/html": f'<img src="x" onerror="{attack("html_output")}">', "text/plain": "html"}, {}),
        ({"application/javascript": attack("javascript_output")}, {}),
        ({"image/svg+xml": f'<svg xmlns="http://www.w3.org/2000/svg" onload="{attack("svg_output")}"/>'}, {}),
        ({"text/markdown": f'<img src="x" onerror="{attack("markdown_output")}">'}, {}),
        ({"application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2, "version_minor": 0}}, {}),
        ({"image/png": png()}, {"image/png": {"width": f"4 onload={attack('image_width')}"}}),
    ]


DISPLAY_CELL = f"""\
# the student's own cell: it shows all of this again whenever a kernel runs the notebook
from IPython.display import display
for data, metadata in {rich_outputs()!r}:
    display(data, metadata=metadata, raw=True)
raise ValueError({f'<img src="x" onerror="{attack("error_output")}">'!r})
"""

RAISES = f"""

def qk_scores(q, k):
    raise ValueError({f'<img src="x" onerror="{attack("exception_message")}">'!r})
"""

MARKDOWN = [
    f'{ANSWER} <img src="x" onerror="{attack("markdown_img")}">',
    f"<script>{attack('markdown_script')}</script>\n\nThe scaling by the square root of d keeps the softmax soft.",
    f'<iframe srcdoc="&lt;script&gt;{attack("markdown_iframe")}&lt;/script&gt;"></iframe>',
    f'<svg onload="{attack("markdown_svg")}"><rect width="1" height="1"/></svg> (a picture)',
    f'<input autofocus onfocus="{attack("markdown_autofocus")}"> A causal mask hides the future.',
    f"[click for my derivation](javascript:{attack('markdown_link')})",
]


def hostile_notebook(root: Path) -> nbformat.NotebookNode:
    nb = nbformat.reads(student_notebook(root, LESSON, "correct", "mallory"), as_version=4)
    (solution,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "qk_scores_solution"]
    solution.source += RAISES
    shows = new_code_cell(DISPLAY_CELL, execution_count=7)
    shows.outputs = [new_output("display_data", data=d, metadata=m) for d, m in rich_outputs()]
    shows.outputs.append(
        new_output("error", ename="ValueError", evalue=f'<img src=x onerror="{attack("saved_error")}">', traceback=[])
    )
    nb.cells += [new_markdown_cell(text) for text in MARKDOWN] + [shows]
    nb.metadata["title"] = f"</title><script>{attack('notebook_title')}</script>"
    return nb


def submit(root: Path, student: str, nb) -> Path:
    folder = root / "submitted" / student / LESSON
    folder.mkdir(parents=True)
    (folder / "timestamp.txt").write_text(TIMESTAMP)
    path = folder / f"{LESSON}.ipynb"
    path.write_text(nb if isinstance(nb, str) else nbformat.writes(nb))
    return path


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    from attnlab.reporting.class_report import write_class_report
    from attnlab.running.results import latest, read_records
    from nbgrader.api import Gradebook

    env = {**os.environ, "ATTNLAB_SECRET_SEED": "7"}
    root = write_course(tmp_path_factory.mktemp("staff") / "course", [LESSON], env)
    raw = submit(root, "mallory", hostile_notebook(root))
    submit(root, HOSTILE_ID, student_notebook(root, LESSON, "noscale", "ida"))  # a mistake: the report names her
    submit(root, "eve", student_notebook(root, LESSON, "correct", "eve"))
    submit(root, "zed", student_notebook(root, LESSON, "correct", "zed"))  # so that the report names the others
    results = root / "attnlab_results.jsonl"
    kernel = ["--TrustedGrades.run_kernel=always", "--TrustedGrades.shutdown_kernel=immediate"]
    nbgrader(
        root,
        ["autograde", LESSON, "--student=mallory", f"--TrustedGrades.results={results}", *kernel],
        ["autograde", LESSON, f"--TrustedGrades.results={results}"],
        ["generate_feedback", LESSON],
        env=env,
    )
    # eve's notebook as autograded elsewhere: the raw submission, with its saved outputs, where nbgrader looks.
    elsewhere = root / "autograded" / "eve" / LESSON / f"{LESSON}.ipynb"
    elsewhere.chmod(0o644)
    elsewhere.write_text(raw.read_text())
    report = write_class_report(latest(read_records(results)), root / "report")
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        ids = {s: gb.find_submission_notebook(LESSON, LESSON, s).id for s in ("mallory", HOSTILE_ID, "eve")}
        scores = {s: gb.find_submission_notebook(LESSON, LESSON, s).score for s in ("mallory", HOSTILE_ID)}
        comments = [
            (c.auto_comment, c.manual_comment) for c in gb.find_submission_notebook(LESSON, LESSON, "mallory").comments
        ]
    return {"root": root, "env": env, "raw": raw, "report": report, "ids": ids, "scores": scores, "comments": comments}


@pytest.fixture(scope="module")
def formgrader(course, tmp_path_factory):
    """A real Jupyter server with nbgrader's formgrader in the course root, configured as `attnlab hub`
    configures the instructor's server (attnlab's formgrader guard enabled), the course's nbgrader_config.py
    loaded from the root as the formgrader loads it."""
    from attnlab.hub.course_root import INSTRUCTOR_SERVER
    from attnlab.hub.launch import free_port

    home = tmp_path_factory.mktemp("home")
    config = home / "config"
    config.mkdir()
    guard = {"ServerApp": {"jpserver_extensions": INSTRUCTOR_SERVER}}
    (config / "jupyter_server_config.json").write_text(json.dumps(guard))
    port, token = free_port(), uuid.uuid4().hex
    env = {
        **course["env"],
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_CONFIG_PATH": str(config),
    }
    log = open(home / "server.log", "w")  # noqa: SIM115 - closed below, after the server
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", f"--port={port}", "--ip=127.0.0.1", "--no-browser",
         f"--ServerApp.root_dir={course['root']}", f"--IdentityProvider.token={token}", "--allow-root"],
        cwd=course["root"], env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"no server:\n{(home / 'server.log').read_text()[-3000:]}") from None
                time.sleep(0.3)
        yield {"base": base, "token": token, "log": home / "server.log"}
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def visit(browser, url: str, *, settle: float = 0.75) -> dict:
    """Open `url`; the vectors whose payload ran, the page's text, and its links a click would run."""
    page = browser.new_page()
    ran: set[str] = set()
    page.on("console", lambda m: ran.add(m.text.split(":", 1)[1]) if m.text.startswith("PWNED:") else None)
    try:
        page.goto(url, wait_until="load")
        page.wait_for_timeout(settle * 1000)  # handlers that wait for an image to fail, a focus, a frame
        marks = page.evaluate(
            "Array.from(document.documentElement.attributes).map(a => a.name)"
            ".filter(n => n.startsWith('data-pwned-')).map(n => n.slice(11))"
        )
        links = [
            link
            for frame in page.frames
            for link in frame.evaluate("Array.from(document.links).map(a => a.getAttribute('href') || '')")
            if link.replace(" ", "").lower().startswith("javascript:")
        ]
        text = page.inner_text("body")
    finally:
        page.close()
    return {"ran": ran | set(marks), "links": links, "text": text}


def formgrader_url(formgrader, path: str) -> str:
    return f"{formgrader['base']}/formgrader/{path}?token={formgrader['token']}"


# ------------------------------------------------------------------------------------------------- the views


@pytest.mark.parametrize("student", ["mallory", HOSTILE_ID, "eve"])
def test_the_formgraders_view_of_a_submission_runs_nothing_of_the_students(course, formgrader, browser, student):
    seen = visit(browser, formgrader_url(formgrader, f"submissions/{course['ids'][student]}"))
    assert seen["ran"] == set() and seen["links"] == [], student
    if student != HOSTILE_ID:
        assert ANSWER in seen["text"] and "A causal mask hides the future." in seen["text"]
    if student in course["scores"]:  # the trusted score
        assert f"qk_scores: {course['scores'][student]:g}/15" in seen["text"]
    if student == "mallory":  # and her exception's words, as text
        assert f'<img src="x" onerror="{attack("exception_message")}">' in seen["text"]


def test_the_formgraders_lists_and_students_pages_print_a_hostile_id_as_text(course, formgrader, browser):
    quoted = urllib.parse.quote(HOSTILE_ID, safe="")
    reflected = urllib.parse.quote(f"<img src=x onerror={attack('reflected_id')}>", safe="")
    for path in [
        f"gradebook/{LESSON}/{LESSON}",
        "manage_students",
        f"manage_students/{quoted}",
        f"manage_students/{quoted}/{LESSON}",
        f"manage_students/{reflected}",  # a link anyone can send the instructor
    ]:
        seen = visit(browser, formgrader_url(formgrader, path), settle=1.0)  # lists the page fetches first
        assert seen["ran"] == set(), path
    assert "attnlab.formgrader_guard: nbgrader's formgrader pages escape" in formgrader["log"].read_text()


@pytest.mark.parametrize("student", ["mallory", HOSTILE_ID])
def test_the_feedback_page_runs_nothing_and_shows_the_trusted_score(course, browser, student):
    page = course["root"] / "feedback" / student / LESSON / f"{LESSON}.html"
    seen = visit(browser, page.as_uri())
    assert seen["ran"] == set() and seen["links"] == [], student
    score = course["scores"][student]
    assert f"qk_scores: {score:g}/15" in seen["text"], seen["text"][-2000:]
    if student == "mallory":
        assert ANSWER in seen["text"]


def maths_drawn(browser, url: str, *, scripts: bool) -> tuple[int, str]:
    """How many formulas the page draws as MathML, and its text. Without `scripts`, as JupyterLab's HTML viewer
    shows a feedback page (its sandbox runs none); nothing here reaches a CDN either way."""
    context = browser.new_context(java_script_enabled=scripts)
    try:
        page = context.new_page()
        page.goto(url, wait_until="load")
        drawn = page.evaluate(
            "Array.from(document.querySelectorAll('math')).filter(m => m.getBoundingClientRect().width > 0).length"
        )
        return drawn, page.inner_text("body")
    finally:
        context.close()


def test_the_feedback_and_the_formgraders_view_draw_the_lessons_maths_with_no_script_or_cdn(
    course, formgrader, browser
):
    """Lesson 1's formulas (`$Q K^\\top / \\sqrt{d}$`) are MathML in the pages (attnlab.maths), which the browser
    draws itself: no dollars or backslashes, offline, and where no script runs."""
    feedback = course["root"] / "feedback" / "mallory" / LESSON / f"{LESSON}.html"
    for url, scripts in [
        (feedback.as_uri(), False),
        (formgrader_url(formgrader, f"submissions/{course['ids']['mallory']}"), True),
    ]:
        drawn, text = maths_drawn(browser, url, scripts=scripts)
        assert drawn >= 10, (url, drawn)
        assert "\\sqrt" not in text and "$Q$" not in text, text[:2000]


def test_control_nbgraders_own_view_leaves_the_maths_to_a_script_from_a_cdn(course, browser, tmp_path):
    autograded = course["root"] / "autograded" / "mallory" / LESSON / f"{LESSON}.ipynb"
    page = plain_formgrade_page(autograded, tmp_path / "plain.html")
    drawn, text = maths_drawn(browser, page.as_uri(), scripts=False)
    assert drawn == 0 and "\\sqrt{d}" in text


def test_the_class_report_runs_nothing_and_names_the_hostile_student_as_text(course, browser):
    seen = visit(browser, course["report"].as_uri())
    assert seen["ran"] == set()
    assert HOSTILE_ID in seen["text"] and "mallory" in seen["text"]


def test_the_comments_autograde_leaves_in_the_gradebook_hold_nothing_of_the_students(course):
    """The formgrader shows the gradebook's comments beside each answer: autograde writes only nbgrader's own."""
    assert course["comments"] and all(
        auto in (None, "No response.") and not manual for auto, manual in course["comments"]
    )


def test_the_autograded_notebook_itself_holds_nothing_that_runs(course):
    """The first layer alone: the notebook autograde wrote, before any page renders it."""
    nb = nbformat.read(str(course["root"] / "autograded" / "mallory" / LESSON / f"{LESSON}.ipynb"), as_version=4)
    kinds = {mime for c in nb.cells for o in c.get("outputs", []) for mime in o.get("data", {})}
    assert kinds <= {"text/plain", "image/png"}, kinds
    assert "title" not in nb.metadata
    shown = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert "it shows all of this again" in nb.cells[-1].source
    assert "PWNED:error_output" in shown  # the kernel did run her cell: its error is there, as plain text


# --------------------------------------------------------------------------------------------------- controls


def plain_formgrade_page(notebook: Path, out: Path) -> Path:
    """nbgrader's own view of a notebook, without attnlab: its HTMLExporter and `formgrade` template, the
    resources its SubmissionHandler passes, and none of the course's configuration."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config

    c = Config()
    c.HTMLExporter.template_name = "formgrade"
    c.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    resources = {"assignment_id": LESSON, "notebook_id": LESSON, "submission_id": "x", "index": 0, "total": 1,
                 "base_url": "", "student": HOSTILE_ID, "last_name": None, "first_name": None,
                 "notebook_path": "autograded/x.ipynb"}  # fmt: skip
    out.write_text(HTMLExporter(config=c).from_filename(str(notebook), resources=resources)[0])
    return out


#: What runs when nbgrader shows the raw notebook by itself. The JavaScript output needs the formgrader's
#: jQuery (absent from a page opened from disk); the SVG output is drawn as an <img>, whose scripts never run;
#: errors and the title are escaped by nbconvert; a widget needs its manager, fetched from a CDN.
LIVE_IN_PLAIN_NBGRADER = {
    "student_id",
    "html_output",
    "markdown_output",
    "image_width",
    "markdown_img",
    "markdown_script",
    "markdown_iframe",
    "markdown_svg",
    "markdown_autofocus",
}


@pytest.mark.filterwarnings("ignore:Your element with mimetype:UserWarning")  # the widget, which it cannot show
def test_control_nbgraders_own_view_of_the_raw_notebook_runs_the_students_scripts(course, browser, tmp_path):
    seen = visit(browser, plain_formgrade_page(course["raw"], tmp_path / "plain.html").as_uri())
    assert seen["ran"] == LIVE_IN_PLAIN_NBGRADER
    assert [urllib.parse.unquote(link) for link in seen["links"]] == [f"javascript:{attack('markdown_link')}"]


def test_control_the_autograded_notebook_alone_keeps_nbgraders_own_view_inert(course, browser, tmp_path):
    """The same plain view of what autograde wrote for mallory: the first layer holds without the second (the
    student id, which only the resources carry, aside)."""
    autograded = course["root"] / "autograded" / "mallory" / LESSON / f"{LESSON}.ipynb"
    seen = visit(browser, plain_formgrade_page(autograded, tmp_path / "autograded.html").as_uri())
    assert seen["ran"] == {"student_id"} and seen["links"] == []


def test_control_nbgraders_own_students_page_runs_a_hostile_id(browser, tmp_path):
    from jinja2 import Environment, FileSystemLoader
    from nbgrader.server_extensions.formgrader import handlers

    env = Environment(loader=FileSystemLoader([handlers.template_path]))  # as nbgrader makes it
    page = tmp_path / "student.html"
    page.write_text(env.get_template("manage_students_assignments.tpl").render(student_id=HOSTILE_ID, base_url=""))
    assert visit(browser, page.as_uri())["ran"] == {"student_id"}


def test_control_the_report_without_escaping_or_its_policy_runs_the_hostile_id(course, browser, tmp_path, monkeypatch):
    from attnlab.reporting import class_report
    from attnlab.running.results import latest, read_records

    records = latest(read_records(course["root"] / "attnlab_results.jsonl"))
    monkeypatch.setattr(class_report, "_esc", lambda x: str(x))
    unescaped = class_report.write_class_report(records, tmp_path / "unescaped")
    assert visit(browser, unescaped.as_uri())["ran"] == set()  # the policy alone stops it
    monkeypatch.setattr(class_report, "CSP", "script-src 'unsafe-inline'")
    neither = class_report.write_class_report(records, tmp_path / "neither")
    assert "student_id" in visit(browser, neither.as_uri())["ran"]
