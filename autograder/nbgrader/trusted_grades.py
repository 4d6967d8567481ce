"""`TrustedGrades`: attnlab's trusted scores in every grade cell that is a course task, in the place of nbgrader's
``Execute``, and `task_outputs`, what such a cell shows: the words, the picture of the mistake and the score.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path

from nbclient.exceptions import CellControlSignal, CellExecutionError, CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader import utils as nbgrader_utils
from nbgrader.preprocessors import Execute
from traitlets import Dict, Enum, Integer, Unicode

from ..course import Course, load_course
from ..inert import is_plain_id
from ..running.service import GradingService
from ..running.submission import notebook_submission, worker_view
from .metadata import notebook_name

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
        service = GradingService.shared()
        if graded and not self.results:
            service.start()

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
            self._write_trusted_grades(submitted, graded, course, service, resources)
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

    def _write_trusted_grades(self, submitted, graded: list, course: Course, service, resources) -> None:
        from ..running.classrun import grade_or_reuse
        from ..running.found import Found

        ids = [c.metadata.nbgrader["grade_id"] for c in graded]
        wanted = [t.id for t in course.tasks if t.id in ids]
        name = resources.get("unique_key") or "submission"
        # What the grader loads: no outputs, and no test cell's source, where autograde has just put the
        # hidden tests back. The loader leaves those out too; they never touch the disk.
        sub = notebook_submission(worker_view(submitted), f"{name}.ipynb")
        owner = resources.get("nbgrader", {})
        where = Found(Path(notebook_name(resources)), owner.get("student"), owner.get("assignment"))

        def warm():
            # Refuse to grade (this notebook, and so every other one) where correct work would lose points.
            return service.zygote(course)

        seed = service.run_seed(self.seed)
        results = service.results_file(self.results)
        result, stored = grade_or_reuse(
            sub, where, course=course, seed=seed, task_ids=wanted, results=results, zygote=warm
        )
        self.log.info(
            "attnlab trusted grades for %s (seed %d%s): %s",
            notebook_name(resources) if "nbgrader" in resources else name,
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
