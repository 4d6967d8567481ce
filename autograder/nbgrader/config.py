"""The nbgrader_config.py attnlab writes (`nbgrader_config`), and the pipelines it installs: autograde's with
`TrustedGrades` in ``Execute``'s place, sanitize's opened by the metadata repair, and feedback's without hidden tests.
"""

from __future__ import annotations

import math
import pprint

from nbgrader.converters.autograde import Autograde
from nbgrader.converters.generate_feedback import GenerateFeedback
from nbgrader.preprocessors import (
    Execute,
    GetGrades,
    OverwriteCells,
    SaveAutoGrades,
)

from ..course import Course
from .feedback import ClearLockedHiddenTests
from .inert_views import InertNotebook
from .metadata import RepairNbgraderMetadata, RestoreDeletedCells
from .trusted_grades import TrustedGrades


def autograde_preprocessors() -> list:
    """nbgrader's autograde pipeline with TrustedGrades in Execute's place, checked rather than assumed, and
    InertNotebook last, so that the notebook autograde writes holds nothing of the student's that can run.

    TrustedGrades must run the kernel itself (it is Execute) and must come before SaveAutoGrades, which
    reads the scores it writes. InertNotebook changes no grade (it keeps every output's kind, stream
    names and plain text), so it could go anywhere; last, no later step can add to what it cleaned.
    """
    default = list(Autograde.class_traits()["autograde_preprocessors"].default())
    if default.count(Execute) != 1 or SaveAutoGrades not in default:
        raise RuntimeError(
            "this nbgrader's autograde pipeline has no single Execute and SaveAutoGrades; "
            "attnlab supports nbgrader 0.9.x"
        )
    pipeline = [TrustedGrades if step is Execute else step for step in default]
    if pipeline.index(TrustedGrades) > pipeline.index(SaveAutoGrades):
        raise RuntimeError(
            "nbgrader saves grades before it executes the notebook; attnlab cannot install TrustedGrades"
        )
    return [*pipeline, InertNotebook]


def sanitize_preprocessors() -> list:
    """nbgrader's sanitize pipeline, opened by RepairNbgraderMetadata, with RestoreDeletedCells in
    OverwriteCells' place. The repair comes first because every nbgrader step after it trusts the
    metadata it puts right."""
    default = list(Autograde.class_traits()["sanitize_preprocessors"].default())
    if default.count(OverwriteCells) != 1:
        raise RuntimeError(
            "this nbgrader's sanitize pipeline has no single OverwriteCells; attnlab supports nbgrader 0.9.x"
        )
    return [RepairNbgraderMetadata] + [RestoreDeletedCells if step is OverwriteCells else step for step in default]


def feedback_preprocessors() -> list:
    """nbgrader's feedback pipeline plus ClearHiddenTests, so that feedback never shows hidden tests.

    nbgrader 0.9.6's GenerateFeedback does not clear them: autograde restored them into the graded
    notebook (OverwriteCells), and the feedback HTML would show them. It goes right after GetGrades, the
    first step, and before the HTML is made.
    """
    default = list(GenerateFeedback.class_traits()["preprocessors"].default())
    if GetGrades not in default:
        raise RuntimeError("this nbgrader's feedback pipeline has no GetGrades; attnlab supports nbgrader 0.9.x")
    at = default.index(GetGrades) + 1
    return default[:at] + [ClearLockedHiddenTests] + default[at:]


#: The lines of an nbgrader_config.py that show a student's notebook inert in every HTML page nbconvert makes
#: of it (the formgrader's view, generate_feedback): in `nbgrader_config`, and in attnlab hub's instructor config.
INERT_VIEWS = """\
# Nothing a student wrote runs in a page that shows their notebook (the formgrader's view, the feedback):
# InertPage keeps text, verified images and sanitized markdown, and nbconvert drops scripts and widgets.
# Maths are MathML there, which browsers draw with no MathJax from a CDN.
c.HTMLExporter.preprocessors = ["attnlab.nbgrader.InertPage"]
c.HTMLExporter.sanitize_html = True
"""

CONFIG = """\
# nbgrader configuration for the course {course_id!r}, written by attnlab.nbgrader.nbgrader_config().
# Scores come from attnlab's trusted grader, not from the student's kernel. Regenerate it from course.yml
# rather than editing it.
import os
import sys

from attnlab.nbgrader import (ReadableNotebooks, autograde_preprocessors, feedback_preprocessors,
                              sanitize_preprocessors)

c = get_config()  # noqa: F821 - nbgrader defines get_config() for this file

# nbgrader runs `alembic` from PATH to make a new gradebook: find it beside this Python, venv activated or not.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.source_directory = "source"  # assignments/source/<lesson>/ holds the source notebooks
{exchange}
# One notebook cell may run as long as the trusted grader gives one cell to load (limits.load_seconds).
c.ExecutePreprocessor.timeout = {timeout}

# The course the trusted grader uses: the same tasks, points and limits as course.yml.
c.TrustedGrades.course = {course}

# Execute -> TrustedGrades (its subclass, in its place) -> ... -> SaveAutoGrades; built and checked in code.
c.Autograde.autograde_preprocessors = autograde_preprocessors()
# RepairNbgraderMetadata first: nbgrader metadata the student edited (schema versions, grade cells added,
# duplicated or made from solution cells) is put back from the gradebook, so that no notebook stops the run.
# OverwriteCells -> RestoreDeletedCells: a grade cell the student deleted is put back (and says so), so it
# is graded rather than left to manual grading; edited ones are restored as nbgrader always does.
c.Autograde.sanitize_preprocessors = sanitize_preprocessors()
# Reads what a hand edit left of a notebook's JSON, and names a notebook that is not JSON at all.
c.Autograde.exporter_class = ReadableNotebooks
# GetGrades -> ClearLockedHiddenTests -> ...: feedback never shows hidden tests.
c.GenerateFeedback.preprocessors = feedback_preprocessors()
{inert_views}"""


def nbgrader_config(course: Course, exchange_root: str | None = None) -> str:
    """The text of an nbgrader_config.py for `course`, to put in the course root (assignments/)."""
    exchange = f"c.Exchange.root = {str(exchange_root)!r}\n" if exchange_root is not None else ""
    return CONFIG.format(
        course_id=course.course_id,
        exchange=exchange,
        timeout=int(math.ceil(course.limits.load_seconds)),
        course=pprint.pformat(course.model_dump(mode="json"), indent=4, width=110, sort_dicts=False),
        inert_views=INERT_VIEWS,
    )
