"""InertNotebook: the last step of autograde, and a preprocessor of every HTMLExporter that nbgrader_config()
configures (the formgrader's view of a submission, generate_feedback).

The view is rendered here as nbgrader's formgrader renders it (its HTMLExporter, its `formgrade` template,
the resources its SubmissionHandler passes), in this process and without a browser: the payloads must not
reach the page as markup. tests/test_staff_views.py opens the real formgrader's pages in Chromium.
"""

from __future__ import annotations

import logging
from html.parser import HTMLParser

import nbformat
from attnlab.course import load_course
from attnlab.nbgrader import (
    INERT_VIEWS,
    InertNotebook,
    TrustedGrades,
    autograde_preprocessors,
    nbgrader_config,
)
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.preprocessors import SaveAutoGrades
from traitlets.config import Config

PAYLOAD = "console.log('PWNED')"
HOSTILE_ID = f"<svg onload={PAYLOAD}>"


class Active(HTMLParser):
    """Where the payload sits in a page as markup that runs: an event handler, or a script's text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._script = False

    def handle_starttag(self, tag, attrs):
        self._script = tag == "script"
        self.found += [f"{tag} {name}" for name, value in attrs if name.startswith("on") and "PWNED" in (value or "")]

    def handle_endtag(self, tag):
        self._script = False

    def handle_data(self, data):
        if self._script and "PWNED" in data:
            self.found.append("script")


def active(page: str) -> list[str]:
    parser = Active()
    parser.feed(page)
    return parser.found


def hostile_submission():
    code = new_code_cell("display(HTML(...))", execution_count=1)
    code.outputs = [
        new_output("display_data", data={"text/html": f'<img src=x onerror="{PAYLOAD}">', "text/plain": "x"}),
        new_output("display_data", data={"application/javascript": PAYLOAD}),
    ]
    answer = new_markdown_cell(f'My answer, <img src="x" onerror="{PAYLOAD}"> in markdown')
    return new_notebook(cells=[answer, code], metadata={"title": f"</title><script>{PAYLOAD}</script>"})


def config() -> Config:
    c = Config()
    exec(compile(nbgrader_config(load_course()), "nbgrader_config.py", "exec"), {"get_config": lambda: c})
    return c


def formgrader_page(path, c: Config | None) -> str:
    """The formgrader's view of a submission: its exporter (the course's config, then the formgrader's own
    settings on top) and the resources its SubmissionHandler passes, a hostile student id among them."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers

    c = Config(c or {})
    c.HTMLExporter.template_name = "formgrade"
    c.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    resources = {
        "assignment_id": "lesson1",
        "notebook_id": "lesson1",
        "submission_id": "0123",
        "index": 0,
        "total": 1,
        "base_url": "/user/teacher",
        "student": HOSTILE_ID,
        "last_name": None,
        "first_name": None,
        "notebook_path": f"course/autograded/{HOSTILE_ID}/lesson1/lesson1.ipynb",
    }
    return HTMLExporter(config=c).from_filename(str(path), resources=resources)[0]


def test_autograde_ends_with_inert_notebook_after_the_trusted_grades_are_saved():
    pipeline = autograde_preprocessors()
    assert pipeline[-1] is InertNotebook
    assert pipeline.index(TrustedGrades) < pipeline.index(SaveAutoGrades) < pipeline.index(InertNotebook)


def test_the_course_config_makes_every_html_view_inert():
    c = config()
    assert c.HTMLExporter.preprocessors == ["attnlab.nbgrader.InertPage"]
    assert c.HTMLExporter.sanitize_html is True
    assert INERT_VIEWS in nbgrader_config(load_course())


def test_the_formgrader_view_without_attnlab_runs_the_students_markup(tmp_path):
    """The control: nbgrader's own view of the same notebook, with its plain configuration."""
    path = tmp_path / "lesson1.ipynb"
    nbformat.write(hostile_submission(), str(path))
    page = formgrader_page(path, None)
    # the student id in the header, the markdown answer, the saved HTML output, the saved JavaScript output
    assert active(page) == ["svg onload", "img onerror", "img onerror", "script"]


def test_the_formgrader_view_with_the_course_config_shows_everything_as_text(tmp_path, caplog):
    path = tmp_path / "lesson1.ipynb"
    nbformat.write(hostile_submission(), str(path))
    with caplog.at_level(logging.INFO):
        page = formgrader_page(path, config())
    assert active(page) == []
    assert "My answer," in page and "in markdown" in page  # the student's text is still there
    assert "&lt;svg onload=" in page  # the id, as text
    assert "attnlab showed only inert content of lesson1: dropped or rewrote" in caplog.text


def test_inert_notebook_escapes_only_what_the_formgrade_template_prints_as_it_is():
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    resources = {"student": "<b>", "first_name": "A&B", "last_name": None, "assignment_id": "<lesson>"}
    _, out = InertNotebook().preprocess(nb, resources)
    assert out == {"student": "&lt;b&gt;", "first_name": "A&amp;B", "last_name": None, "assignment_id": "<lesson>"}


def test_an_nbgrader_config_written_by_attnlab_0_1_still_finds_its_classes():
    """Course roots keep the nbgrader_config.py that `attnlab nbgrader-config` wrote: its imports and its class
    paths named attnlab.nbgrader_plugin, which must keep naming the same classes as attnlab.nbgrader."""
    import attnlab.nbgrader as now
    from attnlab.nbgrader_plugin import (  # the old config's import, word for word
        ReadableNotebooks,
        autograde_preprocessors,
        feedback_preprocessors,
        sanitize_preprocessors,
    )
    from traitlets.utils.importstring import import_item

    assert ReadableNotebooks is now.ReadableNotebooks and autograde_preprocessors is now.autograde_preprocessors
    assert feedback_preprocessors is now.feedback_preprocessors and sanitize_preprocessors is now.sanitize_preprocessors
    assert import_item("attnlab.nbgrader_plugin.InertPage") is now.InertPage  # the old HTMLExporter line
    assert "attnlab.nbgrader_plugin" not in now.nbgrader_config.__module__  # what is written today names the new one
