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
- `feedback_folder`, `CourseFetchFeedback` (``c.ExchangeFactory.fetch_feedback``) and `CourseList`
  (``c.ExchangeFactory.list``): a student's fetched feedback goes to ``feedback/2026-12-07_11-53-27_UTC/``,
  a name without spaces, where nbgrader's own names it with the submission's whole timestamp
  (``feedback/2026-12-07 11:53:27.755687 UTC/``); the Assignment List finds it there.

It runs in the students' servers (the student build ships it) and imports nbgrader there, only when their
configuration names one of its classes; it imports nothing of attnlab's grading.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
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


_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2})[ T_](\d{2}):?(\d{2}):?(\d{2})(?:\.\d+)?\s*(UTC|Z)?$")


def feedback_folder(timestamp: str) -> str:
    """The folder a submission's fetched feedback goes to, named by its timestamp without spaces or colons:
    nbgrader's ``2026-12-07 11:53:27.755687 UTC`` is ``2026-12-07_11-53-27_UTC``. Any other timestamp keeps its
    letters, digits, dots and dashes, the rest made ``_``; never a path."""
    m = _TIMESTAMP.match(timestamp.strip())
    if m:
        date, h, mi, sec, zone = m.groups()
        return f"{date}_{h}-{mi}-{sec}" + ("_UTC" if zone else "")
    name = re.sub(r"[^A-Za-z0-9.-]+", "_", timestamp).strip("_.")
    return name or "submission"


def __getattr__(name: str):
    # The classes are made on first use, so that importing this module (for EDITOR_LEFTOVERS) imports no nbgrader.
    made = {"CourseSubmit": _course_submit, "CourseFetchFeedback": _course_fetch_feedback, "CourseList": _course_list}
    if name in made:
        return made[name]()
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


@functools.cache
def _course_fetch_feedback():
    from nbgrader.exchange.default.fetch_feedback import ExchangeFetchFeedback

    class CourseFetchFeedback(ExchangeFetchFeedback):
        """`ExchangeFetchFeedback` that puts each submission's feedback in `feedback_folder`'s folder."""

        def do_copy(self, src, dest):
            self.feedback_files = [(nb, feedback_folder(ts), path) for nb, ts, path in self.feedback_files]
            super().do_copy(src, dest)

    CourseFetchFeedback.__module__, CourseFetchFeedback.__qualname__ = __name__, "CourseFetchFeedback"
    return CourseFetchFeedback


@functools.cache
def _course_list():
    import hashlib

    from nbgrader.exchange.default.list import ExchangeList
    from nbgrader.utils import make_unique_key, notebook_hash

    def checksum(path: str) -> str:
        with open(path, "rb") as f:
            return hashlib.md5(f.read()).hexdigest()

    class CourseList(ExchangeList):
        """`ExchangeList` that looks for a submission's fetched feedback where `CourseFetchFeedback` puts it."""

        def parse_assignments(self):
            assignments = super().parse_assignments()
            for assignment in assignments:
                for info in assignment.get("submissions", [assignment]):
                    if info.get("status") == "submitted" and "notebooks" in info:
                        self._find_feedback(info)
            return assignments

        def _assignment_dir(self, info) -> str:
            if self.path_includes_course:
                return os.path.join(self.assignment_dir, info["course_id"], info["assignment_id"])
            return os.path.join(self.assignment_dir, info["assignment_id"])

        def _exchange_feedback(self, info, nb) -> str | None:
            """The exchange's feedback file for a submitted notebook, found as nbgrader's list finds it."""
            secret_path = os.path.join(info["path"], "submission_secret.txt")
            if os.path.isfile(secret_path):
                with open(secret_path) as fh:
                    hashes = [notebook_hash(secret=fh.read(), notebook_id=nb["notebook_id"])]
            else:
                key = make_unique_key(
                    info["course_id"], info["assignment_id"], nb["notebook_id"], info["student_id"], info["timestamp"]
                )
                hashes = [notebook_hash(nb["path"], key), notebook_hash(nb["path"])]
            for h in hashes:
                path = os.path.join(self.root, info["course_id"], "feedback", f"{h}.html")
                if os.path.isfile(path):
                    return path
            return None

        def _find_feedback(self, info) -> None:
            folder = os.path.join(
                os.path.abspath(self._assignment_dir(info)), "feedback", feedback_folder(info["timestamp"])
            )
            for nb in info["notebooks"]:
                local = os.path.join(folder, f"{nb['notebook_id']}.html")
                nb["has_local_feedback"] = os.path.isfile(local)
                nb["local_feedback_path"] = local if nb["has_local_feedback"] else None
                there = self._exchange_feedback(info, nb) if nb["has_local_feedback"] else None
                nb["feedback_updated"] = bool(there) and checksum(there) != checksum(local)
            notebooks = info["notebooks"]
            info["has_local_feedback"] = bool(notebooks) and all(nb["has_local_feedback"] for nb in notebooks)
            info["feedback_updated"] = any(nb["feedback_updated"] for nb in notebooks)
            info["local_feedback_path"] = folder if info["has_local_feedback"] else None

    CourseList.__module__, CourseList.__qualname__ = __name__, "CourseList"
    return CourseList
