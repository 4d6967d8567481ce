"""nbgrader integration: `nbgrader autograde` stores attnlab's trusted scores, never the kernel's.

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
    from attnlab.nbgrader_plugin import nbgrader_config
    Path("assignments/nbgrader_config.py").write_text(nbgrader_config(load_course()))
"""

from __future__ import annotations

import atexit
import base64
import copy
import html
import json
import math
import pprint
from pathlib import Path

import nbformat
from nbclient.exceptions import CellControlSignal, CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert.exporters import NotebookExporter
from nbformat.v4 import new_output
from nbgrader import utils as nbgrader_utils
from nbgrader.api import Gradebook
from nbgrader.converters.autograde import Autograde
from nbgrader.converters.generate_feedback import GenerateFeedback
from nbgrader.nbgraderformat import SCHEMA_VERSION
from nbgrader.preprocessors import (
    ClearHiddenTests,
    Execute,
    GetGrades,
    NbGraderPreprocessor,
    OverwriteCells,
    SaveAutoGrades,
)
from traitlets import Bool, Dict, Enum, Integer, Unicode

from .course import Course, load_course
from .inert import describe, inert_notebook, is_plain_id
from .running import selfcheck
from .running.submission import notebook_submission, repair_notebook_json, worker_view

FEEDBACK = "{task}: {score:g}/{max_score:g} {status}\n{feedback}"
GRADED_OUTSIDE = "Graded by attnlab's trusted grader, which runs your code outside this notebook's kernel."
PICTURE_ALT = "your output, the expected one and their difference"
NOT_RUN = (
    "The kernel stopped ({reason}) before this cell ran, so its tests did not run. "
    "Look for os._exit or a crash in an earlier cell."
)
NOT_GRADED = (
    "This grade cell is not a task of the course, and TrustedGrades.run_kernel is 'never', so nothing "
    "ran it: it scores 0. Ask your instructor."
)
# What the kernel can do to end a run early. None of it stops the trusted grader.
KERNEL_FAILURES = (DeadKernelError, CellTimeoutError, CellControlSignal, CellExecutionError)

_zygote = None
_seed: int | None = None
_results: dict = {}  # path -> the ResultsFile open for this process (TrustedGrades.results)


def _shared_zygote():
    """One warm grader child for the whole `nbgrader autograde` run: it forks a fresh worker per notebook."""
    global _zygote
    if _zygote is not None and _zygote.proc.poll() is not None:  # it died (out of memory?): start another
        _zygote.close()
        _zygote = None
    if _zygote is None:
        from .running.processes import Zygote

        _zygote = Zygote()
        atexit.register(_zygote.close)
    return _zygote


def _results_file(path: str | None):
    """The results file at `path`, opened once per process (closed at exit); None without a path."""
    if not path:
        return None
    from .running.results import ResultsFile

    key = str(Path(path).resolve())
    if key not in _results:
        _results[key] = ResultsFile(key)
        atexit.register(_results[key].close)
    return _results[key]


def _run_seed(configured: int | None) -> int:
    """TrustedGrades.seed, else $ATTNLAB_SECRET_SEED, else one fresh secret seed for the whole run."""
    global _seed
    from .running.grade import secret_seed

    if configured is not None:
        return int(configured)
    if _seed is None:
        _seed = secret_seed(None)
    return _seed


def task_outputs(task: dict, execution_count: int | None, png: bytes | None = None) -> list:
    """A grade cell's outputs for one trusted task result: the student's feedback, then the score.

    The feedback is plain text (never a stream: nbgrader zeroes a cell with stderr), then, when there is
    one, the picture of the mistake (student, expected, difference) as a PNG of its own: text and an image,
    which every page shows and none runs, however the student's own words (an exception's message) read.
    The score is an ``execute_result`` whose text is the number, which ``nbgrader.utils.determine_grade``
    stores as partial credit, 0 included.
    """
    text = FEEDBACK.format(
        task=task["id"],
        score=task["score"],
        max_score=task["max_score"],
        status=task["status"],
        feedback=task["feedback"],
    )
    shown = [new_output("display_data", data={"text/plain": f"{text}\n{GRADED_OUTSIDE}"})]
    if png:
        alt = f"{task['id']}: {PICTURE_ALT}"
        data = {"image/png": base64.b64encode(png).decode(), "text/plain": alt}
        shown.append(new_output("display_data", data=data, metadata={"image/png": {"alt": alt}}))
    score = new_output(
        "execute_result", data={"text/plain": repr(float(task["score"]))}, execution_count=execution_count
    )
    return [*shown, score]


class TrustedGrades(Execute):
    """attnlab's trusted grades in every grade cell that is a course task, in the place of nbgrader's Execute.

    It *is* Execute (a subclass that takes its place in the pipeline), so that nothing can run between
    the kernel and the trusted grading. When the kernel runs (``run_kernel``), one that dies
    (``os._exit``) or hangs does not stop the grading: the trusted grader never needed the kernel.
    """

    course = Dict(help="course.yml as a mapping (nbgrader_config() writes it); empty: attnlab's own course.yml.").tag(
        config=True
    )
    seed = Integer(
        None,
        allow_none=True,
        help="Secret seed for the grader's cases; unset: $ATTNLAB_SECRET_SEED, else a fresh one per run.",
    ).tag(config=True)

    results = Unicode(
        None,
        allow_none=True,
        help="attnlab's results file (attnlab.running.results; `attnlab autograde` sets it): a notebook whose "
        "grade it holds for this course, seed and tasks is not graded again, and every new grade is added.",
    ).tag(config=True)

    run_kernel = Enum(
        ["auto", "always", "never"],
        "auto",
        help="Run the student's notebook in a Jupyter kernel, outside attnlab's sandbox, as plain nbgrader "
        "does. auto: only when it has code grade cells that are not course tasks, which only the "
        "kernel can score; never: such cells score 0.",
    ).tag(config=True)

    def _course(self) -> Course:
        return Course.model_validate(self.course) if self.course else load_course()

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        self._replied.add(kwargs["cell_index"])

    def preprocess(self, nb, resources):
        course = self._course()
        tasks = {t.id: t for t in course.tasks}
        student = resources.get("nbgrader", {}).get("student")
        if isinstance(student, str) and not is_plain_id(student):
            self.log.warning(
                "student id %r is not a plain id (letters, digits, '.', '@', '_', '-'): nbgrader's formgrader prints "
                "ids as HTML unless attnlab.formgrader_guard is enabled (`jupyter server extension list`); attnlab's "
                "collect never takes one in. Rename that student's folder",
                student,
            )
        graded = [
            c
            for c in nb.cells
            if nbgrader_utils.is_grade(c) and c.cell_type == "code" and c.metadata.nbgrader.get("grade_id") in tasks
        ]
        # The code to grade is the notebook as nbgrader hands it over: sanitized (locked cells restored
        # from the gradebook), not yet run. Not the file on disk, which the kernel could rewrite, and not
        # anything the kernel printed.
        submitted = copy.deepcopy(nb)
        # Started now, to import torch while the kernel runs; with a results file, only if a grade is missing.
        zygote = _shared_zygote() if graded and not self.results else None

        self._replied: set[int] = set()
        others = [
            c
            for c in nb.cells
            if nbgrader_utils.is_grade(c)
            and c.cell_type == "code"
            and not nbgrader_utils.is_solution(c)
            and c.metadata.nbgrader.get("grade_id") not in tasks
        ]
        if self.run_kernel == "always" or (self.run_kernel == "auto" and others):
            if others:
                self.log.warning(
                    "Grade cells %s are not course tasks: running the notebook in a kernel, outside attnlab's "
                    "sandbox, to score them",
                    ", ".join(c.metadata.nbgrader["grade_id"] for c in others),
                )
            failure = None
            try:
                nb, resources = super().preprocess(nb, resources)
            except KERNEL_FAILURES as e:
                failure = type(e).__name__
                self.log.warning("The kernel stopped (%s); attnlab grades the notebook anyway: %s", failure, e)
            if failure:
                self._zero_cells_not_run(nb, tasks, failure)
        else:
            for cell in others:
                cell.outputs.append(new_output("error", ename="NotGraded", evalue=NOT_GRADED, traceback=[]))
        if graded:
            self._write_trusted_grades(submitted, graded, course, zygote, resources)
        return nb, resources

    def _zero_cells_not_run(self, nb, tasks: dict, reason: str) -> None:
        """Other grade cells that never ran must not get nbgrader's full credit for an empty output."""
        for index, cell in enumerate(nb.cells):
            if (
                nbgrader_utils.is_grade(cell)
                and cell.cell_type == "code"
                and index not in self._replied
                and cell.metadata.nbgrader.get("grade_id") not in tasks
            ):
                cell.outputs.append(
                    new_output("error", ename="KernelStopped", evalue=NOT_RUN.format(reason=reason), traceback=[])
                )

    def _write_trusted_grades(self, submitted, graded: list, course: Course, zygote, resources) -> None:
        from .running.classrun import grade_or_reuse
        from .running.found import Found

        ids = [c.metadata.nbgrader["grade_id"] for c in graded]
        wanted = [t.id for t in course.tasks if t.id in ids]
        name = resources.get("unique_key") or "submission"
        # What the grader loads: no outputs, and no test cell's source, where autograde has just put the
        # hidden tests back. The loader leaves those out too; they never touch the disk.
        sub = notebook_submission(worker_view(submitted), f"{name}.ipynb")
        owner = resources.get("nbgrader", {})
        where = Found(Path(_notebook_name(resources)), owner.get("student"), owner.get("assignment"))

        def warm():
            # Refuse to grade (this notebook, and so every other one) where correct work would lose points.
            ready = zygote or _shared_zygote()
            selfcheck.ensure(ready, course)
            return ready

        seed = _run_seed(self.seed)
        result, stored = grade_or_reuse(
            sub, where, course=course, seed=seed, task_ids=wanted, results=_results_file(self.results), zygote=warm
        )
        self.log.info(
            "attnlab trusted grades for %s (seed %d%s): %s",
            _notebook_name(resources) if "nbgrader" in resources else name,
            seed,
            ", from the results file" if stored else "",
            ", ".join(f"{t['id']} {t['score']:g}/{t['max_score']:g}" for t in result["tasks"]),
        )
        by_id = {t["id"]: t for t in result["tasks"]}
        for cell in graded:
            task = by_id[cell.metadata.nbgrader["grade_id"]]
            points = float(cell.metadata.nbgrader["points"])
            if points != float(task["max_score"]):
                raise ValueError(
                    f"grade cell {task['id']!r} is worth {points:g} points in the notebook but "
                    f"{task['max_score']:g} in course.yml; make them agree and release again"
                )
            # Replaces everything the kernel wrote here: hidden-test output, stderr, errors, fake numbers.
            cell.outputs = task_outputs(task, cell.get("execution_count"), result["pictures"].get(task["id"]))


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


def _notebook_name(resources) -> str:
    """'student/assignment/notebook.ipynb', as a log line names a submitted notebook."""
    ids = resources.get("nbgrader", {})
    return f"{ids.get('student', '?')}/{ids.get('assignment', '?')}/{ids.get('notebook', '?')}.ipynb"


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
            where = _notebook_name(resources) if "nbgrader" in resources else resources.get("notebook_id", "a notebook")
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


class RepairNbgraderMetadata(NbGraderPreprocessor):
    """Puts a submitted notebook's nbgrader metadata back as the gradebook has it, before nbgrader reads it.

    nbgrader 0.9.6 trusts the metadata in the student's file, and one edit there stops it:

    - a ``schema_version`` other than 3 in any cell: CheckCellMetadata raises SchemaTooOldError or
      SchemaTooNewError, and ``nbgrader autograde`` stops for the whole assignment, every student after
      this one left ungraded;
    - a solution cell made a grade cell (``grade: true, points: 1000``): OverwriteCells asks the
      gradebook for that grade cell (MissingEntry), and the notebook is left to manual grading;
    - a duplicated ``grade_id``: DeduplicateIds empties one copy's metadata, on which OverwriteCells
      (KeyError: 'grade_id') and CheckCellMetadata (schema version 0) then fail;
    - a new grade cell: OverwriteCells drops its unknown grade_id, with the same KeyError after.

    Here, a cell whose ``grade_id`` is in the gradebook gets the gradebook's metadata (its kind, its
    points, schema version 3); where several cells carry one, the last keeps it, as nbgrader's
    DeduplicateIds decides. A cell with an unknown, repeated or missing ``grade_id`` loses its nbgrader
    metadata and becomes a plain cell: the trusted grader grades its code as the student's own. A
    missing kernelspec is filled in from the gradebook. Each repair is one warning line that names the
    notebook and what was wrong. Deleted grade cells are RestoreDeletedCells' job, later on.
    """

    KINDS = ("grade", "solution", "locked", "task")

    def preprocess(self, nb, resources):
        name = _notebook_name(resources)
        ids = resources["nbgrader"]
        with Gradebook(ids["db_url"]) as gb:
            source = gb.find_notebook(ids["notebook"], ids["assignment"])
            wanted = self._gradebook_metadata(source)
            kernelspec = json.loads(source.kernelspec) if source.kernelspec else None
        last = {}  # grade_id -> index of the last cell that carries it
        for index, cell in enumerate(nb.cells):
            meta = cell.get("metadata", {}).get("nbgrader")
            if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
                last[meta["grade_id"]] = index
        for index, cell in enumerate(nb.cells):
            for what in self._repair_cell(cell, index, wanted, last):
                self.log.warning("attnlab repaired %s: cell %d: %s", name, index + 1, what)
        spec = nb.metadata.get("kernelspec")
        if not (isinstance(spec, dict) and isinstance(spec.get("name"), str)):
            nb.metadata["kernelspec"] = kernelspec or {
                "name": "python3",
                "display_name": "Python 3",
                "language": "python",
            }
            self.log.warning(
                "attnlab repaired %s: kernelspec %s; filled in as %s",
                name,
                "missing" if spec is None else repr(spec)[:80],
                nb.metadata["kernelspec"]["name"],
            )
        return nb, resources

    def _gradebook_metadata(self, source) -> dict[str, dict]:
        """grade_id -> the nbgrader metadata the gradebook's source notebook gives that cell."""
        grades = {c.name: c.max_score for c in source.grade_cells}
        tasks = {c.name: c.max_score for c in source.task_cells}
        solutions = {c.name for c in source.solution_cells}
        out = {}
        for cell in source.source_cells:
            meta = {
                "grade": cell.name in grades,
                "solution": cell.name in solutions,
                "locked": bool(cell.locked),
                "task": cell.name in tasks,
                "grade_id": cell.name,
                "schema_version": SCHEMA_VERSION,
                "cell_type": cell.cell_type,
            }
            if cell.name in grades or cell.name in tasks:
                meta["points"] = float(grades.get(cell.name, tasks.get(cell.name)))
            if isinstance(cell.checksum, str):
                meta["checksum"] = cell.checksum
            out[cell.name] = meta
        return out

    def _repair_cell(self, cell, index: int, wanted: dict, last: dict) -> list[str]:
        """Put one cell's nbgrader metadata right; what was wrong, in words (nothing when it was right)."""
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            return []
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        plain = "made a plain cell, whose code the trusted grader grades as the student's"
        if not isinstance(meta, dict):
            why = f"nbgrader metadata is a {type(meta).__name__}, not a mapping"
        elif grade_id is None:
            harmless = not any(meta.get(k) for k in self.KINDS) and meta.get("schema_version") == SCHEMA_VERSION
            del cell.metadata["nbgrader"]
            return [] if harmless else [f"nbgrader metadata without a grade_id; {plain}"]
        elif not isinstance(grade_id, str) or grade_id not in wanted:
            why = f"grade_id {str(grade_id)[:60]!r} is not in the gradebook (a cell the student added or renamed)"
        elif last[grade_id] != index:
            why = f"grade_id {grade_id!r} is also on cell {last[grade_id] + 1}, which keeps it"
        else:
            should = wanted[grade_id]
            wrong = [
                f"{key} {meta.get(key)!r} (the gradebook says {should.get(key)!r})"
                for key in ("schema_version", *self.KINDS, "points")
                if not self._same(meta.get(key), should.get(key))
            ]
            cell.metadata["nbgrader"] = nbformat.from_dict(copy.deepcopy(should))
            return [f"{grade_id}: {', '.join(wrong)}; put back as the gradebook has it"] if wrong else []
        del cell.metadata["nbgrader"]
        return [f"{why}; {plain}"]

    @staticmethod
    def _same(got, want) -> bool:
        if want is None or isinstance(want, bool):
            return bool(got) == bool(want) if want is not None else got is None
        try:
            return not isinstance(got, bool) and float(got) == float(want)
        except (TypeError, ValueError):
            return False


class ReadableNotebooks(NotebookExporter):
    """nbgrader's notebook exporter, for autograde: it reads what a hand edit left of a notebook's JSON,
    and names a notebook that no one can read.

    nbformat refuses a notebook whose ``nbformat_minor`` is not a whole number (``"4.5"``) before any
    preprocessor runs; such fields are put right here (``submission.repair_notebook_json``, as
    ``attnlab grade`` reads them), one warning line each. A file that is not JSON cannot be read by
    anyone: one error line names it and says why, and nbgrader goes on to every other notebook of the
    assignment (it leaves this one to manual grading and ends with exit code 1).
    """

    def from_file(self, file_stream, resources=None, **kw):
        name = _notebook_name(resources or {})
        try:
            data = json.loads(file_stream.read())
        except (ValueError, RecursionError) as e:  # not JSON, not UTF-8, or nested past Python's stack
            why = f"is not JSON ({e.msg if isinstance(e, json.JSONDecodeError) else type(e).__name__})"
            self.log.error("attnlab: %s %s; nbgrader cannot grade it, and grades every other notebook", name, why)
            raise ValueError(f"{name} {why}") from None
        for what in repair_notebook_json(data):
            self.log.warning("attnlab repaired %s: %s", name, what)
        try:
            nb = nbformat.reads(json.dumps(data), as_version=4)
        except Exception as e:  # noqa: BLE001 - nbformat raises several kinds for a broken file
            self.log.error(
                "attnlab: %s is JSON but not a notebook nbformat can read (%s: %s); nbgrader cannot grade "
                "it, and grades every other notebook",
                name,
                type(e).__name__,
                str(e)[:120],
            )
            raise ValueError(f"{name} is not a readable notebook") from None
        return self.from_notebook_node(nb, resources=resources, **kw)


class RestoreDeletedCells(OverwriteCells):
    """OverwriteCells that puts a deleted grade cell back after the nearest source cell still there.

    nbgrader 0.9.6's own ``add_missing_cells`` looks the previous source cell up among grade and
    solution cells only, so it fails (KeyError) when that cell is a read-only one, such as the lessons'
    ``<task>_check`` cells, and the student's whole notebook is then left ungraded. The cell comes back
    with nbgrader's note ("This cell ... was missing from the submission") at the top of its source.
    """

    add_missing_cells = Bool(True, help="Put deleted grade cells back (attnlab: on by default).").tag(config=True)

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [cell.name for cell in source_nb.source_cells]
        solutions = {cell.name for cell in source_nb.solution_cells}
        by_name = {cell.name: cell for cell in source_nb.source_cells}
        for grade_cell in source_nb.grade_cells:
            present = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(nb.cells)}
            if grade_cell.name in present:
                continue
            self.log.warning(
                "attnlab repaired %s: grade cell %s was deleted; put back", _notebook_name(resources), grade_cell.name
            )
            cell = self.missing_cell_transform(
                by_name[grade_cell.name], grade_cell.max_score, is_solution=grade_cell.name in solutions
            )
            earlier = order[: order.index(grade_cell.name)] if grade_cell.name in order else []
            at = next((present[name] + 1 for name in reversed(earlier) if name in present), len(nb.cells))
            nb.cells.insert(at, cell)
        return nb, resources

    def add_missing_task_cells(self, nb, resources):
        """nbgrader's, without its KeyError on a cell whose nbgrader metadata has no grade_id."""
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        by_name = {cell.name: cell for cell in source_nb.source_cells}
        present = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
        for task_cell in source_nb.task_cells:
            if task_cell.name not in present and task_cell.name in by_name:
                nb.cells.append(self.missing_cell_transform(by_name[task_cell.name], task_cell.max_score, is_task=True))
        return nb, resources


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


class ClearLockedHiddenTests(ClearHiddenTests):
    """ClearHiddenTests for feedback: only in locked grade cells, the instructor's.

    A student's own cell that happens to contain the delimiters is left alone rather than stopping the
    student's feedback with nbgrader's "hidden test region in a non-grade cell" error.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if nbgrader_utils.is_grade(cell) and nbgrader_utils.is_locked(cell):
            return super().preprocess_cell(cell, resources, cell_index)
        return cell, resources


#: The lines of an nbgrader_config.py that show a student's notebook inert in every HTML page nbconvert makes
#: of it (the formgrader's view, generate_feedback): in `nbgrader_config`, and in attnlab hub's instructor config.
INERT_VIEWS = """\
# Nothing a student wrote runs in a page that shows their notebook (the formgrader's view, the feedback):
# InertPage keeps text, verified images and sanitized markdown, and nbconvert drops scripts and widgets.
# Maths are MathML there, which browsers draw with no MathJax from a CDN.
c.HTMLExporter.preprocessors = ["attnlab.nbgrader_plugin.InertPage"]
c.HTMLExporter.sanitize_html = True
"""

CONFIG = """\
# nbgrader configuration for the course {course_id!r}, written by attnlab.nbgrader_plugin.nbgrader_config().
# Scores come from attnlab's trusted grader, not from the student's kernel. Regenerate it from course.yml
# rather than editing it.
import os
import sys

from attnlab.nbgrader_plugin import (ReadableNotebooks, autograde_preprocessors, feedback_preprocessors,
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
