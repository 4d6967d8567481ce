"""attnlab.formgrader_guard: nbgrader's formgrader pages print a hostile student id as text.

nbgrader's own templates and Jinja environment are used as its extension sets them up, without a server;
tests/test_staff_views.py opens the pages of a real formgrader in Chromium.
"""

from __future__ import annotations

import logging

from attnlab import formgrader_guard
from jinja2 import Environment, FileSystemLoader
from nbgrader.server_extensions.formgrader import handlers

HOSTILE = "<svg onload=alert(1)>"


def formgrader_env() -> Environment:
    """The Jinja environment nbgrader's FormgradeExtension.init_tornado_settings makes."""
    return Environment(loader=FileSystemLoader([handlers.template_path]))


def manage_student_page(env: Environment, student_id: str) -> str:
    """What ManageStudentsAssignmentsHandler writes for /formgrader/manage_students/<student_id>."""
    return env.get_template("manage_students_assignments.tpl").render(student_id=student_id, base_url="/user/t")


def test_without_the_guard_nbgrader_prints_an_id_from_the_url_as_html():
    """The control: the hole the guard closes."""
    page = manage_student_page(formgrader_env(), HOSTILE)
    assert f'<li class="active">{HOSTILE}</li>' in page


def test_with_the_guard_the_same_page_prints_it_as_text_and_still_works():
    env = formgrader_env()
    assert formgrader_guard.guard({formgrader_guard.SETTING: env}, logging.getLogger("test"))
    page = manage_student_page(env, HOSTILE)
    assert HOSTILE not in page and "&lt;svg onload=alert(1)&gt;" in page
    plain = manage_student_page(env, "alice")  # an ordinary id, and nbgrader's own markup, as they were
    assert plain == manage_student_page(formgrader_env(), "alice")
    assert '<script src="/user/t/formgrader/static/js/utils.js"></script>' in plain


def test_the_guard_waits_for_the_event_loop_and_names_a_server_without_a_formgrader(caplog):
    scheduled = []
    server = type("Server", (), {})()
    server.io_loop = type("Loop", (), {"add_callback": lambda _, fn, *args: scheduled.append((fn, args))})()
    server.web_app = type("App", (), {"settings": {}})()
    server.log = logging.getLogger("test")
    formgrader_guard._load_jupyter_server_extension(server)
    ((fn, args),) = scheduled  # nothing done at load time: nbgrader's extension loads after this one
    with caplog.at_level(logging.INFO):
        assert fn(*args) is False
    assert "no nbgrader formgrader in this server" in caplog.text
    assert formgrader_guard._jupyter_server_extension_points() == [{"module": "attnlab.formgrader_guard"}]
