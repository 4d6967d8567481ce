"""nbgrader's exchange as attnlab's courses use it: what a student's submission holds, and what it does not.

nbgrader copies an assignment's folder into the exchange leaving out what ``CourseDirectory.ignore`` names
(by default ``.ipynb_checkpoints``, ``__pycache__``, ``*.pyc``, ``feedback``), but compares the notebooks
it finds there with the release before it copies, over every notebook, left-out ones too: each submission
from JupyterLab logs its checkpoint as an ``EXTRA`` notebook that was never submitted.

- `EDITOR_LEFTOVERS`: what the configurations attnlab writes add to that list, for submit (the students'
  servers) and for collect (the instructor's): the files editors and JupyterLab's extensions leave beside a
  notebook. None of it is ever submitted or collected.
- `CourseSubmit` (``c.ExchangeFactory.submit``): nbgrader's submit, whose comparison looks at what it
  submits, so that its log names a missing or extra notebook only where there is one.

It runs in the students' servers (the student build ships it) and imports nbgrader there, only when their
configuration names `CourseSubmit`; it imports nothing of attnlab's grading.
"""

from __future__ import annotations

import fnmatch
import functools
from pathlib import PurePath

#: nbgrader's own ignore list, then what editors leave beside a notebook: JupyterLab's language-server shadow
#: copies, macOS and Windows folder files, editors' backup, swap and lock files.
EDITOR_LEFTOVERS = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    ".virtual_documents",
    ".DS_Store",
    "Thumbs.db",
    "*~",
    "*.swp",
    ".~lock.*",
]


def left_out(path: str, patterns: list[str]) -> bool:
    """Whether copying with `patterns` leaves `path` (relative to the assignment's folder) out: a part of it
    matches one, as nbgrader's copy skips a matching folder with everything in it."""
    return any(fnmatch.fnmatch(part, pattern) for part in PurePath(path).parts for pattern in patterns)


def __getattr__(name: str):
    # The class is made on first use, so that importing this module (for EDITOR_LEFTOVERS) imports no nbgrader.
    if name == "CourseSubmit":
        return _course_submit()
    raise AttributeError(f"module 'attnlab.exchange' has no attribute {name!r}")


@functools.cache
def _course_submit():
    from nbgrader.exchange.default.submit import ExchangeSubmit
    from nbgrader.utils import find_all_notebooks

    class CourseSubmit(ExchangeSubmit):
        """`ExchangeSubmit` that compares the notebooks it submits, not the ones it leaves out, with the release."""

        def check_filename_diff(self):
            released = find_all_notebooks(self.release_path)
            submitted = [n for n in find_all_notebooks(self.src_path) if not left_out(n, self.coursedir.ignore)]
            missing = [n for n in released if n not in submitted]
            extra = [n for n in submitted if n not in released]
            if not missing and not extra:
                return
            said = "\n\t".join([*(f"{n}: MISSING" for n in missing), *(f"{n}: EXTRA" for n in extra)])
            if missing and self.strict:
                self.fail(f"Assignment {self.coursedir.assignment_id} not submitted. Missing notebooks:\n\t{said}")
            self.log.warning(
                "Possible missing notebooks and/or extra notebooks submitted for assignment %s:\n\t%s",
                self.coursedir.assignment_id,
                said,
            )

    CourseSubmit.__module__, CourseSubmit.__qualname__ = __name__, "CourseSubmit"
    return CourseSubmit
