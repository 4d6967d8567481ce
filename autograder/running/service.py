"""The grading service: how every door grades. One checked zygote, one seed rule, one entry for found submissions.

    with GradingService() as service:                  # the zygote starts now: torch imports while we read
        results = service.grade(expand(["submitted/"]), course=course, seed=seed_for(None, results=file)[0],
                                jobs=2, results=file, on_result=print_it, progress=advance)

- **A checked zygote** (`GradingService.zygote`): the warm process that forks the workers, started once, started
  again where it died, and in the full install self-checked (``selfcheck.ensure``: a known-correct submission
  scores full here) once per course and device before the first grade. A refusal is remembered: every later
  grade of that course refuses at once, with the same line.
- **One seed rule** (`seed_for`).
- **One entry** (`GradingService.grade`, or `read` then `grade_run` where a door must look at what it read first:
  ``attnlab grade`` stops with one line where nothing could be read, and sizes its progress bar).

Who uses it: the CLI (``attnlab grade``, ``attnlab check``), ``attnlab autograde``, nbgrader's ``TrustedGrades``
(through `shared`, one service for the whole ``nbgrader autograde`` process), the pytest plugin (one per test
session) and each Dask worker (``dask_grading.ZygotePlugin``).
"""

from __future__ import annotations

import atexit
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from ..course import Course
from ..version import is_student_build
from .classrun import ClassRun
from .found import Found
from .processes import Zygote
from .results import ResultsFile
from .selfcheck import SelfCheckFailed, ensure, key


def seed_for(
    given: int | None,
    *,
    results: ResultsFile | None = None,
    configured: int | None = None,
    public: int | None = None,
    fresh: int | None = None,
) -> tuple[int, bool]:
    """(the seed to grade with, whether it came from the results file). The one rule every door follows:

    `public` where the door grades on the course's public seed (``attnlab check``, the pytest plugin without
    ``--attn-seed``); else `given` (``--seed``), else `configured` (``c.TrustedGrades.seed``), else
    $ATTNLAB_SECRET_SEED, else the seed the results file's lines were graded with, so that a rerun resumes it,
    else `fresh` (a service's, drawn once for all it grades), else a fresh secret one.
    """
    if public is not None:
        return int(public), False
    chosen = given if given is not None else configured
    if chosen is not None:
        return int(chosen), False
    if os.environ.get("ATTNLAB_SECRET_SEED"):
        return int(os.environ["ATTNLAB_SECRET_SEED"]), False
    if results is not None and results.seeds():
        return results.seeds()[-1], True
    return (_fresh_seed() if fresh is None else fresh), False


def _fresh_seed() -> int:
    return secrets.randbelow(2**31)


class GradingService:
    """Where a door grades: one zygote here (or, with `dask`, a Dask cluster), self-checked before it grades.

    `self_check` defaults to the full install's: the student build has no known-correct submission to grade
    (it would be the answers). Close it (or use it as a context manager) to stop its zygote and the results
    files it opened.
    """

    _shared: GradingService | None = None

    def __init__(self, *, dask: str | None = None, self_check: bool | None = None, start: bool = True):
        self.dask = dask
        self.self_check = (not is_student_build()) if self_check is None else self_check
        self._zygote: Zygote | None = Zygote() if start and not dask else None
        self._refused: dict[str, str] = {}  # self-check key -> the refusal, said again for every later grade
        self._passed: set[str] = set()
        self._results: dict[str, ResultsFile] = {}
        self._fresh = _fresh_seed()  # the seed of every grade here that nothing else fixes (`run_seed`)
        self._backend = None
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> GradingService:
        """One service for this whole process, closed at exit: for a door that is called again and again in one
        process, as nbgrader's autograde calls ``TrustedGrades`` once per notebook."""
        if cls._shared is None:
            cls._shared = cls(start=False)
            atexit.register(cls._shared.close)
        return cls._shared

    # -- the zygote

    def start(self) -> None:
        """Start the zygote now, unchecked, where there is none or it died: its torch import then overlaps what
        the door does before it grades (nbgrader's kernel, reading the notebooks)."""
        with self._lock:
            self._live()

    def zygote(self, course: Course, device: str = "auto") -> Zygote:
        """The live zygote (started again where it died), once the self-check has passed for `course` and
        `device`; SelfCheckFailed, with one line that says what to run, where it does not."""
        with self._lock:  # one thread starts a zygote or runs the self-check; the others wait for it
            self._live()
            if self.self_check:
                self._check(course, device)
            return self._zygote

    def _live(self) -> None:
        if self._zygote is None or self._zygote.proc.poll() is not None:  # none yet, or it died (out of memory?)
            if self._zygote is not None:
                self._zygote.close()
            self._zygote = Zygote()

    def _check(self, course: Course, device: str) -> None:
        k = key(self._zygote.mode, course, device)
        if k in self._refused:
            raise SelfCheckFailed(self._refused[k])
        if k in self._passed:
            return
        try:
            ensure(self._zygote, course, device=device)
        except SelfCheckFailed as e:
            self._refused[k] = str(e)
            raise
        self._passed.add(k)

    # -- what a run keeps

    def results_file(self, path: str | os.PathLike | None) -> ResultsFile | None:
        """The results file at `path`, opened once by this service and closed with it; None without a path."""
        if not path:
            return None
        where = str(Path(path).resolve())
        with self._lock:
            if where not in self._results:
                self._results[where] = ResultsFile(path)  # as given: its messages name it as the user did
            return self._results[where]

    def run_seed(self, configured: int | None) -> int:
        """`seed_for` for a door that grades one submission at a time: the fresh secret seed, where it comes to
        that, is drawn once and kept for every later submission of this service."""
        return seed_for(configured, fresh=self._fresh)[0]

    # -- grading

    def read(self, found: list[Found], **run) -> ClassRun:
        """The run for `found`, its submissions read (and what its results file already holds found), nothing
        graded. `run`: ``ClassRun``'s keywords (course, seed, task_ids, device, jobs, results, pictures, read)."""
        return ClassRun(found, **run)

    def grade_run(
        self,
        run: ClassRun,
        *,
        on_result: Callable | None = None,
        progress: Callable | None = None,
    ) -> list[dict]:
        """Grade what `run` misses, here or on Dask, after the self-check; every result in input order.
        `on_result(item, result)` comes in input order, `progress(item, result, stored)` as each is ready."""
        if run.todo and not self.dask:
            self.zygote(run.course, run.device)
        return run.grade(self._zygote, emit=on_result, progress=progress, backend=self.backend())

    def grade(
        self, found: list[Found], *, on_result: Callable | None = None, progress: Callable | None = None, **run
    ) -> list[dict]:
        """`read`, then `grade_run`: the found submissions' results, in input order."""
        return self.grade_run(self.read(found, **run), on_result=on_result, progress=progress)

    def backend(self):
        """The Dask backend (made once) where this service grades on Dask; None here."""
        if self.dask and self._backend is None:
            from .dask_grading import dask_backend

            self._backend = dask_backend(self.dask)
        return self._backend

    # -- closing

    def close(self) -> None:
        with self._lock:
            if self._zygote is not None:
                self._zygote.close()
                self._zygote = None
            for file in self._results.values():
                file.close()
            self._results.clear()

    def __enter__(self) -> GradingService:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def grade(
    found: list[Found],
    *,
    course: Course,
    seed: int,
    jobs: int = 1,
    results: ResultsFile | None = None,
    dask: str | None = None,
    on_result: Callable | None = None,
    progress: Callable | None = None,
    **options,
) -> list[dict]:
    """Grade `found` with a service of its own (`GradingService.grade`; `options`: task_ids, device, pictures,
    read), and close it."""
    with GradingService(dask=dask) as service:
        return service.grade(
            found,
            course=course,
            seed=seed,
            jobs=jobs,
            results=results,
            on_result=on_result,
            progress=progress,
            **options,
        )
