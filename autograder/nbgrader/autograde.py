"""`attnlab autograde ASSIGNMENT`: nbgrader's autograde at class speed, with the same gradebook.

Run in the nbgrader course root (the folder with nbgrader_config.py, which `attnlab nbgrader-config` wrote).
Two steps:

1. **Grade the class, in parallel.** Every submitted notebook of the assignment
   (``submitted/<student>/<assignment>/*.ipynb``, or what the config's ``CourseDirectory`` says) is sanitized
   as nbgrader's autograde will sanitize it (`sanitizer`: the course's own sanitize pipeline, which puts
   edited locked cells back), and the code that comes out is graded `jobs` at a time
   (`attnlab.running.classrun`), or on a Dask cluster, into the results file, with the seed, course and
   tasks that ``TrustedGrades`` will use: the same key, so step 2 grades nothing. A notebook that cannot be
   read or sanitized is left to step 2, which fails on it as plain ``nbgrader autograde`` does (one error
   line naming it, the submission left to manual grading, exit code 1); the others go on.
2. **nbgrader's own autograde**, in this process (``nbgrader autograde ASSIGNMENT``, as the command line
   runs it, with the course's nbgrader_config.py): sanitizing, the gradebook, late penalties, the
   autograded notebooks. Its ``TrustedGrades`` step finds each notebook's grade in the results file
   (``TrustedGrades.results``) instead of grading it again, so what lands in the gradebook, the export
   and the feedback is what ``nbgrader autograde`` alone would store. A notebook step 1 did not grade
   (changed in between) is graded there, as plain ``nbgrader autograde`` would, and added to the file.

``--student ID`` regrades one student (nbgrader's ``--force``: the autograded copy is made again).
"""

from __future__ import annotations

import glob
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..course import Course, load_course
from ..running.found import Found

if TYPE_CHECKING:
    from ..running.submission import Submission, Unreadable

RESULTS = "attnlab_results.jsonl"  # in the course root, next to gradebook.db


class AutogradeError(ValueError):
    """A problem to fix before anything is graded; the message is one line."""


def _config():
    """The course root's nbgrader_config.py, loaded as nbgrader loads it."""
    from traitlets.config.loader import PyFileConfigLoader

    if not Path("nbgrader_config.py").exists():
        raise AutogradeError(
            f"no nbgrader_config.py in {os.getcwd()}: run `attnlab autograde` in the nbgrader course root "
            "(`attnlab nbgrader-config > nbgrader_config.py` writes one)"
        )
    return PyFileConfigLoader("nbgrader_config.py", path=os.getcwd()).load_config()


def course_of(config) -> Course:
    """The course TrustedGrades grades with: ``c.TrustedGrades.course``, else attnlab's course.yml."""
    data = config.TrustedGrades.get("course") if "TrustedGrades" in config else None
    return Course.model_validate(data) if data else load_course()


def submitted(config, assignment: str, student: str | None) -> list[Found]:
    """The assignment's submitted notebooks, sorted by path, each with its student. Paths are relative to the
    course root (``submitted/alice/lesson3/lesson3.ipynb``), as the results file keeps them, so that a course
    root moved elsewhere finds its lines again."""
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=config)
    coursedir.root = os.getcwd()
    pattern = coursedir.format_path(coursedir.submitted_directory, student or "*", assignment)
    structure = Path(coursedir.directory_structure).parts
    at = structure.index("{student_id}") if "{student_id}" in structure else None
    out = []
    for path in sorted(glob.glob(os.path.join(glob.escape(pattern) if student else pattern, "*.ipynb"))):
        rel = Path(os.path.relpath(path, coursedir.root))
        who = rel.parts[at] if at is not None and at < len(rel.parts) else None
        if who not in coursedir.student_id_exclude.split(","):
            out.append(Found(rel, who, assignment))
    return out


def notebook_tasks(config, course: Course, assignment: str) -> dict[str, list[str]]:
    """For each notebook of the assignment (by its name), the course tasks its grade cells hold, in the
    course's order: what TrustedGrades grades in it. From the gradebook, which generate_assignment filled."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=config)
    coursedir.root = os.getcwd()
    try:
        with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
            notebooks = gb.find_assignment(assignment).notebooks
            cells = {nb.name: {c.name for c in nb.grade_cells} for nb in notebooks}
    except MissingEntry:
        raise AutogradeError(
            f"assignment {assignment!r} is not in the gradebook: run `nbgrader generate_assignment {assignment}` first"
        ) from None
    return {name: [t.id for t in course.tasks if t.id in ids] for name, ids in cells.items()}


def nbgrader_args(assignment: str, student: str | None, results: Path, seed: int) -> list[str]:
    """The `nbgrader autograde` command line of step 2."""
    args = ["autograde", assignment, f"--TrustedGrades.results={results}", f"--TrustedGrades.seed={seed}"]
    if student:
        args += [f"--student={student}", "--force"]
    return args


def sanitizer(config) -> Callable[[Found], Submission | Unreadable]:
    """`read(found)`: the submission in a notebook as TrustedGrades will get it in step 2, so that both steps
    compute one key: the notebook read as the course's exporter reads it (``ReadableNotebooks``), through
    the course's sanitize pipeline (``Autograde.sanitize_preprocessors``: edited locked cells put back from
    the gradebook, nbgrader metadata repaired), written and read again. An `Unreadable` where that fails;
    step 2 fails on it too, and says why there. The pipeline's own log lines are step 2's to write."""
    from nbgrader.converters.autograde import Autograde
    from nbgrader.coursedir import CourseDirectory

    from ..running.submission import Unreadable, notebook_submission, read_notebook, read_submission

    coursedir = CourseDirectory(config=config)
    coursedir.root = os.getcwd()
    converter = Autograde(coursedir=coursedir, config=config)
    quiet = logging.getLogger("attnlab.autograde.sanitize")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    converter.log = quiet  # the exporter and every preprocessor log through their parent
    exporter = converter.exporter_class(parent=converter, config=converter.config)
    for step in converter.sanitize_preprocessors:
        exporter.register_preprocessor(step)

    def read(found: Found):
        sub = read_submission(found.path)
        if isinstance(sub, Unreadable):
            return sub
        try:
            where = os.path.abspath(found.path)  # as nbgrader names it, from the course root
            resources = converter.init_single_notebook_resources(where)
            output, _ = exporter.from_filename(where, resources=resources)
            return notebook_submission(read_notebook(output, found.path), found.path)
        except Exception as e:  # noqa: BLE001 - any step of nbgrader's pipeline may refuse a notebook
            return Unreadable(found.path, f"nbgrader cannot sanitize it ({type(e).__name__}: {str(e)[:120]})")

    return read


def run_nbgrader(args: list[str]) -> int:
    """`nbgrader ARGS` in this process, as ``python -m nbgrader ARGS`` would run it; its exit code."""
    from .steps import _run_one

    return _run_one(args)


def log(message: str) -> None:
    print(f"attnlab autograde: {message}", file=sys.stderr, flush=True)


def pick_seed(given: int | None, config, results) -> int:
    """The seed of both steps (``running.service.seed_for``): --seed, else ``c.TrustedGrades.seed``, else
    $ATTNLAB_SECRET_SEED, else the results file's last, else a fresh secret one."""
    from ..running.service import seed_for

    configured = config.TrustedGrades.get("seed") if "TrustedGrades" in config else None
    return seed_for(given, configured=configured, results=results)[0]


def grade_class(
    assignment: str,
    *,
    jobs: int,
    student: str | None = None,
    results: str | None = None,
    dask: str | None = None,
    seed: int | None = None,
    progress=None,
) -> tuple[Path, int, list[str]]:
    """Step 1: grade the submitted notebooks into the results file. (its path, the seed, the students whose
    notebook could not be read or sanitized, left to step 2). `progress(item, result, stored)` as in
    `ClassRun.grade`."""
    from ..running.service import GradingService

    config = _config()
    course = course_of(config)
    tasks = notebook_tasks(config, course, assignment)
    found = [f for f in submitted(config, assignment, student) if tasks.get(f.path.stem)]
    if not found:
        who = f" by {student!r}" if student else ""
        raise AutogradeError(f"no submitted notebook of {assignment!r}{who}: run `nbgrader collect {assignment}` first")
    path = Path(results or RESULTS).resolve()
    # Its zygote starts now: its torch import overlaps the reading of the notebooks.
    with GradingService(dask=dask) as service:
        service.backend()
        read = sanitizer(config)
        try:
            file = service.results_file(path)
        except ValueError as e:  # a line that is not a result: another file given by mistake
            raise AutogradeError(str(e)) from None
        seed = pick_seed(seed, config, file)
        unreadable: list[str] = []
        for name in sorted({f.path.stem for f in found}):
            group = [f for f in found if f.path.stem == name]
            unreadable += _grade_notebook(
                service, assignment, name, group, course, seed, tasks[name], jobs, file, read, progress
            )
    return path, seed, unreadable


def _grade_notebook(service, assignment, name, group, course, seed, tasks, jobs, file, read, progress) -> list[str]:
    """One notebook of the assignment, every student's copy of it: graded into `file`; the students whose copy
    could not be read or sanitized."""
    from ..running.submission import Unreadable

    run = service.read(
        group, course=course, seed=seed, task_ids=tasks, jobs=jobs, results=file, pictures=True, read=read
    )
    unreadable = [i.where.student for i in run.items if isinstance(i.sub, Unreadable)]
    run.items = [i for i in run.items if not isinstance(i.sub, Unreadable)]
    todo = len(run.todo)
    log(
        f"{assignment}/{name}.ipynb: {len(run.items)} notebook(s): {todo} to grade, "
        f"{len(run.items) - todo} from the results file {file.path.name}"
    )
    service.grade_run(run, progress=progress)
    return unreadable


def autograde(assignment: str, *, student: str | None = None, progress=None, **kwargs) -> int:
    """`attnlab autograde`: step 1 (`grade_class`), then nbgrader's autograde reading the results file. The exit
    code is nbgrader's: 1 where a notebook could not be graded, as with ``nbgrader autograde``."""
    path, seed, unreadable = grade_class(assignment, student=student, progress=progress, **kwargs)
    code = run_nbgrader(nbgrader_args(assignment, student, path, seed))
    if unreadable:
        log(
            f"{len(unreadable)} notebook(s) could not be read, and are left to manual grading (the errors above "
            f"say why): {', '.join(unreadable)}"
        )
    return code or (1 if unreadable else 0)
