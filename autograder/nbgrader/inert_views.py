"""Nothing a student wrote runs in a page that shows their notebook: `InertNotebook`, autograde's last step, and
`InertPage`, every HTML page nbconvert makes with attnlab's configuration (``attnlab.inert``).
"""

from __future__ import annotations

import html

from nbgrader.preprocessors import NbGraderPreprocessor

from ..inert import describe, inert_notebook
from .metadata import notebook_name


class InertNotebook(NbGraderPreprocessor):
    """Nothing a student wrote can run in a page that shows this notebook (`attnlab.inert.inert_notebook`):
    outputs become text and verified images, markdown is sanitized, metadata is typed.

    It works in two places. It is the last step of autograde, so the autograded notebook (what the
    formgrader shows and feedback is made from) is inert when written. And `nbgrader_config` adds it to
    every HTMLExporter (the formgrader's view of a submission, generate_feedback), so that a notebook
    autograded elsewhere is shown inert too. There it also escapes the student's id and names, which
    nbgrader's formgrade template prints into the page as they are (`SHOWN_AS_IS`).
    """

    SHOWN_AS_IS = ("student", "first_name", "last_name", "notebook_path")
    #: Whether markdown's maths become MathML (`InertPage`); the autograded notebook keeps them as LaTeX.
    MATHML = False

    def preprocess(self, nb, resources):
        changes = inert_notebook(nb, mathml=self.MATHML)
        if changes:
            where = notebook_name(resources) if "nbgrader" in resources else resources.get("notebook_id", "a notebook")
            self.log.info("attnlab showed only inert content of %s: dropped or rewrote %s", where, describe(changes))
        for key in self.SHOWN_AS_IS:
            if isinstance(resources.get(key), str):
                resources[key] = html.escape(resources[key])
        return nb, resources


class InertPage(InertNotebook):
    """`InertNotebook` for a page: what nbgrader's HTMLExporter runs (`INERT_VIEWS`), the formgrader's view of a
    submission and generate_feedback. There markdown's maths are MathML too (`attnlab.maths`), which the
    browser draws itself: the feedback needs no MathJax from a CDN, offline or in JupyterLab's viewer, which
    runs no script."""

    MATHML = True
