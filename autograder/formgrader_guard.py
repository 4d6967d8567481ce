"""A Jupyter server extension: nbgrader's formgrader pages escape what they print.

nbgrader 0.9.6 renders its formgrader's own pages (manage students, the gradebook's lists, the page of a
missing submission) with a Jinja environment whose autoescape is off, and prints ids into them as they
are, from the URL and from the gradebook: ``/formgrader/manage_students/<id>`` runs whatever script is
written into ``<id>``, for anyone who sends the instructor that link, and so does a student folder named
with HTML once autograde has put it in the gradebook. The page runs with the instructor's session.

This extension turns that environment's autoescape on, so those pages show such an id as text. It loads
before nbgrader's own extension (Jupyter loads extensions in alphabetical order), so it waits for the
server's event loop, which starts once every extension has loaded and before any request is served.
Installing attnlab from its wheel enables it (``etc/jupyter/jupyter_server_config.d/attnlab.json``; an
editable install has no data files, so `attnlab hub` enables it in the instructor's configuration itself);
``jupyter server extension list`` shows it. In a server without nbgrader's formgrader it says so and does
nothing. The notebook view of a submission is nbconvert's, not this
environment: ``attnlab.nbgrader.InertNotebook`` guards that one.

Imports nothing of attnlab's grading, and nothing of nbgrader's: it reads the environment nbgrader's
extension leaves in the server's settings.
"""

from __future__ import annotations

#: Where nbgrader's formgrader extension keeps its Jinja environment (``webapp.settings``).
SETTING = "nbgrader_jinja2_env"


def _jupyter_server_extension_points():
    return [{"module": "attnlab.formgrader_guard"}]


def guard(settings: dict, log) -> bool:
    """Turn autoescape on in the formgrader's Jinja environment in `settings`; whether there was one."""
    env = settings.get(SETTING)
    if env is None:
        log.info("attnlab.formgrader_guard: no nbgrader formgrader in this server; nothing to guard")
        return False
    env.autoescape = True
    log.info("attnlab.formgrader_guard: nbgrader's formgrader pages escape what they print")
    return True


def _load_jupyter_server_extension(serverapp):
    serverapp.io_loop.add_callback(guard, serverapp.web_app.settings, serverapp.log)
