"""Grade a whole class: several submissions at once, each graded once, results kept as they come.

    run = ClassRun(expand(["submissions/"]), course=course, seed=7, jobs=2, results=ResultsFile("r.jsonl"))
    run.grade(emit=lambda item, result: print(json_line(result)))

`ClassRun` grades `jobs` submissions side by side. Each one is graded as `attnlab grade` grades one
(`SubmissionGrader`): in a fresh, confined worker forked from the one warm zygote, which stays the only
process that imported torch from cold. The parent's share (making the cases, which are cached per seed,
and judging the replies) runs on threads, so the children's work overlaps.

With a `ResultsFile`, a submission whose key has a line already is not graded again: its stored result is
used. Every new result is appended to the file as soon as it is judged, whatever the order of
completion; `emit` is called in input order, each result as soon as those before it are out.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

from ..course import Course
from ..version import __version__
from .found import Found
from .grade import SubmissionGrader, unreadable_result
from .processes import Zygote, default_jobs  # noqa: F401  (default_jobs: part of this module's API)
from .results import ResultsFile, SubmissionStatus, course_hash, decode_pictures, make_record, record_key
from .submission import Submission, Unreadable, read_submission


def digest(sub: Submission | Unreadable) -> str:
    """sha256 of what is graded: the code cells, in order (a .py file is one cell), and whether it is a
    notebook; an unreadable path's reason and name. Outputs, metadata and markdown change nothing."""
    if isinstance(sub, Unreadable):
        body = {"unreadable": sub.reason, "path": str(sub.path)}
    else:
        body = {"notebook": sub.notebook, "cells": sub.cells}
    return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()


@dataclass
class Item:
    """One submission of the class run: where it is, what was read, and the key of its grade."""

    index: int
    where: Found
    sub: Submission | Unreadable
    sha256: str
    key: str


class ClassRun:
    """The submissions of a class, graded `jobs` at a time (see the module's docstring).

    `pictures`: keep each result's PNGs ("pictures": {task: bytes}), in the results file too (base64).
    A stored line serves only if it has what this run needs: with `pictures`, a line written without
    them is graded again.
    """

    def __init__(
        self,
        found: list[Found],
        *,
        course: Course,
        seed: int,
        task_ids: list[str] | None = None,
        device: str = "auto",
        jobs: int = 1,
        results: ResultsFile | None = None,
        pictures: bool = False,
        read: Callable[[Found], Submission | Unreadable] | None = None,
    ):
        self.course, self.seed, self.device, self.pictures = course, int(seed), device, pictures
        self.task_ids = list(task_ids) if task_ids else [t.id for t in course.tasks]
        self.jobs = max(int(jobs), 1)
        self.results = results
        self._course_hash = course_hash(course)
        read = read or (lambda f: read_submission(f.path))
        self.items = [self._item(i, f, read(f)) for i, f in enumerate(found)]
        self._lock = threading.Lock()

    def _item(self, index: int, where: Found, sub) -> Item:
        sha = digest(sub)
        return Item(index, where, sub, sha, record_key(sha, self._course_hash, self.seed, self.task_ids, __version__))

    def usable(self, item: Item) -> dict | None:
        """The stored line that serves `item`, or None if it must be graded. It may be the line of the same code
        handed in at another path: see `copied`."""
        record = self._stored(item)[0]
        if record is None or (self.pictures and "pictures" not in record and _lost_points(record["result"])):
            return None
        return record

    def stored(self, item: Item) -> dict | None:
        """The stored result for `item` (its current path in "submission"), or None if it must be graded."""
        record = self.usable(item)
        if record is None:
            return None
        result = {**record["result"], "submission": item.sub.name, **_owner(item)}
        if self.pictures:
            result["pictures"] = decode_pictures(record)
        return result

    def _stored(self, item: Item) -> tuple[dict | None, bool]:
        if self.results is None:
            return None, False
        return self.results.get(item.key, str(item.where.path))

    def copied(self, item: Item) -> bool:
        """Whether `item`'s stored grade is another path's (the same code): its own line is still to write."""
        return not self._stored(item)[1]

    @property
    def todo(self) -> list[Item]:
        """The items this run must grade: those without a usable stored line."""
        return [i for i in self.items if self.usable(i) is None]

    def grade_one(self, item: Item, zygote: Zygote) -> dict:
        if isinstance(item.sub, Unreadable):
            return unreadable_result(item.sub)
        grader = SubmissionGrader(item.sub, self.course, zygote, self.seed, self.device)
        return grader.grade(self.task_ids, pictures=self.pictures)

    def keep(self, item: Item, result: dict) -> None:
        """Append `result` to the results file (if any); called once per graded item, from any thread."""
        if self.results is None:
            return
        record = make_record(item.key, item.sha256, self._course_hash, self.seed, self.task_ids, item.where, result)
        with self._lock:
            self.results.append(record)

    def grade(
        self,
        zygote: Zygote | None = None,
        *,
        emit: Callable[[Item, dict], None] | None = None,
        progress: Callable[[Item, dict, bool], None] | None = None,
        backend: Callable | None = None,
    ) -> list[dict]:
        """Grade what is missing, and return every item's result in input order.

        `progress(item, result, stored)` is called as each result is ready (stored ones first), in any
        order; `emit(item, result)` in input order. `backend(run, todo, done)` grades elsewhere (Dask):
        it must call ``done(item, result)`` once for each item of `todo`, from this thread or another.
        """
        out: dict[int, dict] = {}
        ordered = _InOrder([i.index for i in self.items], emit)
        todo = []
        for item in self.items:
            result = self.stored(item)
            if result is None:
                todo.append(item)
                continue
            if self.copied(item):
                self.keep(item, result)
            out[item.index] = result
            if progress:
                progress(item, result, True)
            ordered.ready(item, result)

        def done(item: Item, result: dict) -> None:
            result = {**result, **_owner(item)}
            self.keep(item, result)
            with self._lock:
                out[item.index] = result
            if progress:
                progress(item, result, False)
            ordered.ready(item, result)

        if backend is not None:
            backend(self, todo, done)
        elif todo:
            self._local(todo, done, zygote)
        return [out[i.index] for i in self.items]

    def _local(self, todo: list[Item], done: Callable[[Item, dict], None], zygote: Zygote | None) -> None:
        """Grade `todo` here, `jobs` at a time, from one zygote (started here if not given)."""
        own = zygote is None
        zygote = zygote or Zygote()
        try:
            zygote.ready()  # here, once: its answer must not be read by two threads
            with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="attnlab-grade") as pool:
                running = {}
                queue = list(reversed(todo))
                while queue or running:
                    while queue and len(running) < self.jobs:
                        item = queue.pop()
                        running[pool.submit(self.grade_one, item, zygote)] = item
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        done(running.pop(future), future.result())
        finally:
            if own:
                zygote.close()


def grade_or_reuse(
    sub: Submission,
    where: Found,
    *,
    course: Course,
    seed: int,
    task_ids: list[str],
    results: ResultsFile | None,
    zygote: Callable[[], Zygote],
    pictures: bool = True,
) -> tuple[dict, bool]:
    """One submission's result: (its stored one, True) where `results` has it, else (graded now, False), kept
    in `results`. `zygote()` is called, for a warm zygote whose self-check passed, only when it must grade."""
    run = ClassRun(
        [where], course=course, seed=seed, task_ids=task_ids, results=results, pictures=pictures, read=lambda _: sub
    )
    (item,) = run.items
    stored = run.stored(item)  # wherever it was graded from: the line is not copied to this path
    if stored is not None:
        return stored, True
    result = {**run.grade_one(item, zygote()), **_owner(item)}
    run.keep(item, result)
    return result, False


def _owner(item: Item) -> dict:
    """The student (and, in nbgrader's layout, the assignment) that a result names."""
    return {"student": item.where.student, "assignment": item.where.assignment}


def _lost_points(result: dict) -> bool:
    return result.get("status") == SubmissionStatus.GRADED and any(
        t["score"] < t["max_score"] for t in result.get("tasks", [])
    )


class _InOrder:
    """Calls `emit` for results in the `order` of their indices, each as soon as every one before it has come."""

    def __init__(self, order: list[int], emit: Callable[[Item, dict], None] | None):
        self.order, self.emit, self.next = order, emit, 0
        self.waiting: dict[int, tuple[Item, dict]] = {}
        self._lock = threading.Lock()

    def ready(self, item: Item, result: dict) -> None:
        with self._lock:
            self.waiting[item.index] = (item, result)
            while self.next < len(self.order) and self.order[self.next] in self.waiting:
                ready = self.waiting.pop(self.order[self.next])
                if self.emit:
                    self.emit(*ready)
                self.next += 1
