"""nbgrader integration, one pipeline class or command per file: `nbgrader autograde` stores attnlab's trusted
scores, never the kernel's.

nbgrader runs a notebook's tests inside the student's own kernel and reads the score off the cell
outputs, so a student can switch the tests off (replace ``torch.allclose``, turn later cells into
``pass``) or print a number in a grade cell. This module keeps nbgrader's workflow (release, collect,
autograde, feedback, export) and takes the scores from the trusted grader instead:

- ``TrustedGrades`` takes the place of nbgrader's ``Execute`` in the autograde pipeline. It grades the
  notebook's code as nbgrader handed it over (after sanitizing, which restores edited and deleted
  locked cells) with ``attnlab.running.grade``, in the sandboxed grader child, and rewrites the outputs of every
  grade cell whose ``grade_id`` is a course task id: a feedback display (words and, where the task lost
  points, a picture) and an ``execute_result`` that is the trusted score. ``SaveAutoGrades`` then stores
  that number through ``nbgrader.utils.determine_grade``.
- By default the student's notebook is **not** run in a Jupyter kernel at all: that kernel would run
  student code outside the sandbox (reading files, opening sockets, leaving daemons), and no grade
  needs it. A notebook with grade cells that are not course tasks is run in the kernel as plain
  nbgrader does, for those cells only to be scored the usual way (``TrustedGrades.run_kernel``).
- One student never stops the class. ``RepairNbgraderMetadata`` puts edited nbgrader metadata back
  from the gradebook before nbgrader's checks read it, ``ReadableNotebooks`` reads what a hand edit
  left of a notebook's JSON and names a file that is not JSON, and the trusted grader grades the code
  whatever the metadata said. The worker that runs that code never sees the hidden tests that autograde
  restores (``attnlab.running.submission.worker_view``).
- Nothing a student wrote runs in a page that shows their notebook. ``InertNotebook`` (``attnlab.inert``)
  is autograde's last step, and a preprocessor of every HTML page nbconvert makes with this configuration
  (the formgrader's view, the feedback): outputs keep text and verified images, markdown is sanitized.
  The grade cells' own feedback is plain text and a PNG.
- ``nbgrader_config(course)`` writes an ``nbgrader_config.py`` that installs all this, sets the kernel
  timeout from course.yml, puts deleted grade cells back, and hides hidden tests in feedback.

    from attnlab.course import load_course
    from attnlab.nbgrader import nbgrader_config
    Path("assignments/nbgrader_config.py").write_text(nbgrader_config(load_course()))

The files:

- ``trusted_grades.py``: `TrustedGrades` and what a grade cell shows (`task_outputs`);
- ``metadata.py``: `RepairNbgraderMetadata` and `RestoreDeletedCells`, nbgrader's structure put back;
- ``readable.py``: `ReadableNotebooks`, autograde's exporter for hand-broken notebook JSON;
- ``inert_views.py``: `InertNotebook` and `InertPage`, the staff and feedback pages made inert;
- ``feedback.py``: `ClearLockedHiddenTests`;
- ``config.py``: the pipelines and the nbgrader_config.py that installs them (`nbgrader_config`);
- ``autograde.py``: `attnlab autograde`, a class graded in parallel, then nbgrader's own autograde on the results;
- ``steps.py``: several ``nbgrader`` commands in one process (attnlab hub's set-up, the tests).

Here, ``nbgrader`` is always the third-party package (absolute imports); this package is ``attnlab.nbgrader``.
"""

from .config import (
    INERT_VIEWS,
    autograde_preprocessors,
    feedback_preprocessors,
    nbgrader_config,
    sanitize_preprocessors,
)
from .feedback import ClearLockedHiddenTests
from .inert_views import InertNotebook, InertPage
from .metadata import RepairNbgraderMetadata, RestoreDeletedCells
from .readable import ReadableNotebooks
from .trusted_grades import FEEDBACK, GRADED_OUTSIDE, PICTURE_ALT, TrustedGrades, task_outputs

__all__ = [
    "FEEDBACK",
    "GRADED_OUTSIDE",
    "INERT_VIEWS",
    "PICTURE_ALT",
    "ClearLockedHiddenTests",
    "InertNotebook",
    "InertPage",
    "ReadableNotebooks",
    "RepairNbgraderMetadata",
    "RestoreDeletedCells",
    "TrustedGrades",
    "autograde_preprocessors",
    "feedback_preprocessors",
    "nbgrader_config",
    "sanitize_preprocessors",
    "task_outputs",
]
