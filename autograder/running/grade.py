"""Grade submissions: the Python API behind `attnlab grade` and `attnlab check`.

    results = grade_paths(["alice.ipynb"], course=load_course(), seed=7)

For each submission a fresh worker (forked from a clean zygote) loads the student's code; the parent
sends it each task's cases, collects the plain outputs, and judges them here, out of the student's
reach. A task that times out, crashes the worker or exits costs only that task: the worker is killed
with its whole process group, a new one is forked, the submission is loaded again, and grading goes on
with the next task.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable

from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..child import wire
from ..child.replies import Op, Status
from ..course import Course
from ..judging.cases import contract_params, make_cases
from ..judging.judge import NOT_GRADED, TaskResult, judge_task
from ..judging.patterns import runtime_patterns
from ..judging.scan import scan_source
from ..tasks import TASKS
from .processes import WorkerProcess, Zygote
from .results import SubmissionStatus
from .submission import Submission, Unreadable, load_submission, read_submission, references

SCHEMA = "attnlab.grade/1"
#: What `SubmissionGrader._load` returns where importing ahead ended or hung the worker: load again without it.
AHEAD_FAILED = object()
OUTPUT_CHARS = 4000  # of what the student's code printed, kept in the JSON
MAX_RESTARTS = 3  # fresh task children per task after crashes; each costs a fork
GRACE = 2.0  # seconds past a task's limit that the worker gets to report the timeout before it is killed


def _namespaced(spec: dict, prefix: str) -> dict:
    """Rewrite the tensor names in a case spec to `prefix.name`, so all cases share one payload."""
    spec = copy.deepcopy(spec)

    def fix(a):
        if isinstance(a, dict) and "t" in a:
            a["t"] = f"{prefix}.{a['t']}"
        return a

    spec["args"] = [fix(a) for a in spec.get("args", [])]
    spec["kwargs"] = {k: fix(a) for k, a in spec.get("kwargs", {}).items()}
    if "state" in spec:
        spec["state"] = {k: f"{prefix}.{v}" for k, v in spec["state"].items()}
    if "grad" in spec:
        spec["grad"]["upstream"] = [None if u is None else f"{prefix}.{u}" for u in spec["grad"]["upstream"]]
    return spec


class SubmissionGrader:
    """Grades one submission, task by task, restarting its worker whenever a task kills it."""

    def __init__(self, sub: Submission, course: Course, zygote: Zygote, seed: int, device: str = "auto"):
        self.sub, self.course, self.zygote, self.seed, self.device = sub, course, zygote, seed, device
        self.worker: WorkerProcess | None = None
        self.names: list[str] = []
        self.load_errors: list[dict] = []
        self.load_failure: dict | None = None
        self.outputs: list[str] = []
        self._uses: dict[str, set[str]] | None = None
        self._scans: dict[tuple, dict] = {}  # forbidden names -> the source scan's findings
        self._contract: set[str] | None = None
        self.skipped: dict[int, dict] = {}  # notebook cells that ended or hung a worker while loading
        self.ahead = True  # import ahead what function bodies import (off again once those imports ended a worker)

    def _references(self) -> dict[str, set[str]]:
        """Which top-level functions each one uses; parsed once per submission."""
        if self._uses is None:
            self._uses = references(self.sub)
        return self._uses

    def _scan(self, forbidden: list[str]) -> dict:
        """The source scan's findings for these forbidden names; scanned once per submission and list."""
        key = tuple(forbidden)
        if key not in self._scans:
            self._scans[key] = scan_source(self.sub.cells, forbidden)
        return self._scans[key]

    def _contracted(self) -> set[str]:
        """The callee tasks that this submission defines with the contract's signature; read once."""
        if self._contract is None:
            from ..judging.scan import defined_as

            signatures = contract_params()  # the reference's, or in the student build its data's
            callees = sorted({c for t in TASKS.values() for c in t.callees})
            self._contract = {c for c in callees if c in signatures and defined_as(self.sub.cells, c, signatures[c])}
        return self._contract

    # -- the worker

    def _start(self) -> None:
        """Fork a worker and load the submission into it.

        Each notebook cell has ``limits.load_seconds`` (a .py module is one cell), and the whole notebook
        ``limits.notebook_load_seconds``, so that slow but legitimate cells do not cost the definitions
        after them. A cell that ends the worker (os._exit, a crash) or runs past its limit is left out,
        reported as a load error like a cell that raises, and the load starts again in a fresh worker
        without it, for at most MAX_RESTARTS such cells. In a .py module that ends loading, and so does a
        notebook that runs past its own limit. The modules that its functions import in their bodies are
        then imported ahead (``child.ahead``), on a budget of their own that no task is charged for. Where
        those imports end or hang the worker, the submission loads again without them: importing ahead never
        costs a grade, and the task whose function imports it meets what it does on its own.
        """
        limits = self.course.limits
        while True:
            self.worker = self.zygote.spawn(
                limits.memory_mb, limits.output_kb, submission=self.sub, gpu_memory_mb=limits.gpu_memory_mb
            )
            stopped = self._load()
            if stopped is AHEAD_FAILED:
                continue  # loaded again without importing ahead: the task that imports it meets that itself
            if stopped is None or self.load_failure is not None:
                return
            running, failure, error = stopped
            if (
                not isinstance(running, int)
                or not 0 <= running < len(self.sub.cells)
                or running in self.skipped
                or len(self.skipped) >= MAX_RESTARTS
            ):
                self.load_failure = failure
                return
            self.skipped[running] = {"cell": running + 1, **error, "tb": ""}

    def _load(self) -> tuple | None:
        """Load the submission into the fresh worker, following its cells: None once loaded. Where the worker
        ended or hung instead: (the index of the cell that was running, the task-level failure, the load
        error), with `load_failure` set already where the whole notebook ran out of time."""
        limits = self.course.limits
        running = None
        whole = time.monotonic() + (limits.notebook_load_seconds if self.sub.notebook else limits.load_seconds)
        request = {
            "op": Op.LOAD,
            "cells": self.sub.cells,
            "notebook": self.sub.notebook,
            "filename": self.sub.path.name,
            "names": [t.function for t in self.course.tasks],
            "skip": sorted(self.skipped),
            "ahead_seconds": limits.load_seconds / 2 if self.ahead else 0,
        }
        ahead = False
        try:
            self.worker.send(request)
            header, _ = self.worker.recv(min(time.monotonic() + limits.load_seconds, whole))
            while header.get("op") == Op.CELL:
                running = header.get("index")
                header, _ = self.worker.recv(min(time.monotonic() + limits.load_seconds, whole))
            if header.get("op") == Op.AHEAD:  # no cell's: their imports keep to half this window by themselves
                ahead = True
                header, _ = self.worker.recv(time.monotonic() + limits.load_seconds)
            self.names = header.get("names", [])
            errors = header.get("errors", []) + list(self.skipped.values())
            self.load_errors = self.load_errors or sorted(errors, key=lambda e: e["cell"])
            return None
        except (wire.Deadline, wire.ChannelClosed, wire.ChannelCorrupt) as e:
            self._stop()
            if ahead:
                self.ahead = False
                return AHEAD_FAILED
            if isinstance(e, wire.Deadline):
                return self._load_timeout(running, whole)
            failure = {"status": Status.CRASHED, "case": "loading your file"}
            return running, failure, {"type": "ProcessExit", "msg": "ended the Python process (os._exit or a crash)"}

    def _load_timeout(self, running, whole: float) -> tuple:
        """What `_load` returns where the cell `running` ran past its limit, or the notebook past its own."""
        limits = self.course.limits
        if time.monotonic() >= whole and self.sub.notebook:
            self.load_failure = {
                "status": Status.TIMEOUT,
                "case": "loading your notebook (all its cells together)",
                "seconds": limits.notebook_load_seconds,
            }
            return running, self.load_failure, {}
        failure = {"status": Status.TIMEOUT, "case": "loading your file", "seconds": limits.load_seconds}
        msg = f"did not finish within {limits.load_seconds:g} s; look for an endless loop"
        return running, failure, {"type": "Timeout", "msg": msg}

    def _stop(self) -> None:
        if self.worker is not None:
            self.worker.kill()
            self.outputs.append(self.worker.output())
            self.worker = None

    def close(self) -> None:
        if self.worker is not None:
            try:
                self.worker.send({"op": Op.BYE})
            except wire.ChannelClosed:
                pass
        self._stop()

    # -- tasks

    def devices(self) -> list[str]:
        wanted = {"auto": self.course.devices, "cpu": ["cpu"], "cuda": ["cuda"]}[self.device]
        return [d for d in self.course.devices if d in wanted] or list(wanted)

    def run_task(self, task, callee_status: dict) -> TaskResult:
        cases = make_cases(task.id, self.seed, self.course.dtypes, self.devices())
        uses = self._references().get(task.function, set())
        findings = self._scan(self.course.forbidden_for(task.id))
        # The scan's findings in the task's function and in every top-level function it uses (the judge excuses
        # those in a callee that answers for them itself), and every evasion that runs at load.
        mine = [f for owner in [task.function, *sorted(uses)] for f in findings.get(owner, [])]
        mine += [f for f in findings.get("", []) if f.evasion]
        if self.worker is None and self.load_failure is None:
            self._start()
        replies: dict = {}
        tensors: dict = {}
        failure = None
        if self.load_failure is not None:
            failure = dict(self.load_failure)
        elif task.function not in self.names:
            load = ""
            if self.load_errors:
                e = self.load_errors[0]
                where = f"cell {e['cell']}: " if self.sub.notebook else ""
                load = f" (loading stopped at {where}{e['type']}: {e['msg']})"
            failure = {"status": Status.MISSING, "load": load}
        else:
            failure = self._run_cases(task, cases, replies, tensors)
        callees = {c: callee_status[c] for c in TASKS[task.id].callees if c in callee_status}
        contract = self._contracted() & set(callees)
        return judge_task(
            task,
            cases,
            replies,
            tensors,
            self.course,
            findings=mine,
            callee_status=callees,
            failure=failure,
            uses=uses,
            contract=contract,
        )

    def _run_cases(self, task, cases, replies: dict, tensors: dict) -> dict | None:
        """Run the task's cases in the worker, within the task's time limit.

        The worker runs them in a child forked from the loaded submission. A case that ends that child
        (os._exit, a crash) is marked `crashed`, and a fresh child takes the remaining cases, at most
        MAX_RESTARTS times per task: a crash costs a fork, not a reload. A timeout ends the task: the case
        in flight is `timeout`, the rest `not_run`; the worker kills the child and stays loaded. Only when
        the worker itself dies or stops answering (GRACE after the limit) is it replaced, with a reload.
        """
        runnable = []
        for c in cases:
            if c.device == "cuda" and not self.zygote.cuda:
                replies[c.id] = {"status": Status.PENDING}
            else:
                runnable.append(c)
        limit = self.course.limits.task_seconds
        deadline = time.monotonic() + limit
        pending = [c.id for c in runnable]
        for _ in range(MAX_RESTARTS + 1):
            if not pending:
                return None
            if self.worker is None:
                self._start()
                if self.worker is None:  # the submission no longer loads: nothing more can run
                    self._mark(replies, pending, Status.NOT_RUN)
                    return None
            todo = [c for c in runnable if c.id in pending]
            outcome = self._attempt(task, todo, pending, replies, tensors, deadline)
            if outcome == Op.DONE:
                return None
            if outcome == Op.TIMEOUT:
                label = next(c.label for c in runnable if c.id == pending[0]) if pending else "a case"
                self._mark(replies, pending, Status.TIMEOUT)
                return {"status": Status.TIMEOUT, "case": label, "seconds": limit}
        self._mark(replies, pending, Status.NOT_RUN)
        return None

    def _attempt(self, task, todo: list, pending: list, replies: dict, tensors: dict, deadline: float) -> Op:
        """Send the cases in `todo` to the worker once, and file its replies: DONE, CRASHED (the case in flight
        ended the task's child; the next child takes the rest) or TIMEOUT."""
        payload = {f"{c.id}.{k}": v.contiguous() for c in todo for k, v in c.tensors.items()}
        header = {
            "op": Op.RUN,
            "function": task.function,
            "cases": [{"id": c.id, "device": c.device, **_namespaced(c.spec, c.id)} for c in todo],
            "forbidden": runtime_patterns(self.course.forbidden_for(task.id)),
            "callees": list(TASKS[task.id].callees),
            "seconds": max(deadline - time.monotonic(), 0.001),
        }
        try:
            self.worker.send(header, st_save(payload) if payload else b"")
            while True:
                msg, blob = self.worker.recv(deadline + GRACE)
                op = msg.get("op")
                if op in (Op.DONE, Op.TIMEOUT):
                    return Op(op)
                if op == Op.CRASHED:  # (the child may die after its last case, before saying it was done)
                    if pending:
                        replies[pending.pop(0)] = {"status": Status.CRASHED}
                    return Op.CRASHED
                if op != Op.CASE or msg.get("id") not in pending:
                    raise wire.ChannelCorrupt("unexpected message")
                pending.remove(msg["id"])
                replies[msg["id"]] = msg
                tensors[msg["id"]] = st_load(blob) if blob else {}
        except wire.Deadline:  # the worker itself stopped answering: it goes, and the next task reloads
            self._stop()
            return Op.TIMEOUT
        except (wire.ChannelClosed, wire.ChannelCorrupt, ValueError):
            if pending:
                replies[pending.pop(0)] = {"status": Status.CRASHED}
            self._stop()
            return Op.CRASHED

    @staticmethod
    def _mark(replies: dict, pending: list, status: Status) -> None:
        for i, cid in enumerate(pending):
            replies[cid] = {"status": status if i == 0 else Status.NOT_RUN}

    def grade(self, task_ids: Iterable[str] | None = None, *, pictures: bool = False) -> dict:
        """The result dict (see README); with `pictures`, also {"pictures": {task id: PNG bytes}} for
        every task that lost points and has something to draw. That key is not JSON: drop it first."""
        wanted = list(task_ids) if task_ids else [t.id for t in self.course.tasks]
        results: list[TaskResult] = []
        # A callee this run does not grade (lesson 3's attention calls lesson 1's qk_scores) is never taken as
        # right: a case it touched is replayed through the reference with what it returned, so that no task
        # loses points for another lesson's function. Those the run grades get their status as they are graded.
        status: dict = {c: NOT_GRADED for t in wanted for c in TASKS[t].callees}
        try:
            for task in self.course.tasks:
                if task.id not in wanted:
                    continue
                r = self.run_task(task, status)
                status[task.function] = r.status
                results.append(r)
        finally:
            self.close()
        output = "\n".join(o for o in self.outputs if o.strip())
        if len(output) > OUTPUT_CHARS:
            output = output[:OUTPUT_CHARS] + f"\n[... {len(output) - OUTPUT_CHARS} more characters not shown]"
        result = {
            "schema": SCHEMA,
            "submission": self.sub.name,
            "status": SubmissionStatus.GRADED,
            "total": round(sum(r.score for r in results), 2),
            "max_total": float(sum(r.max_score for r in results)),
            "tasks": [r.to_json() for r in results],
            "load_errors": [{k: e[k] for k in ("cell", "type", "msg")} for e in self.load_errors],
            "output": output,
        }
        if pictures:
            from ..reporting.pictures import task_png

            pngs = {r.id: task_png(r) for r in results}
            result["pictures"] = {k: v for k, v in pngs.items() if v}
        return result


def unreadable_result(sub: Unreadable) -> dict:
    """The result in an unreadable path's place: {"schema", "submission", "status": "unreadable", "reason"}."""
    return {"schema": SCHEMA, "submission": sub.name, "status": SubmissionStatus.UNREADABLE, "reason": sub.reason}


def grade_submissions(
    subs: list[Submission | Unreadable],
    *,
    course: Course,
    seed: int,
    task_ids=None,
    device: str = "auto",
    zygote: Zygote | None = None,
    on_done: Callable[[dict], None] | None = None,
    pictures: bool = False,
) -> list[dict]:
    """Grade loaded submissions in order; `on_done` is called with each result as soon as it is ready.

    A graded result says ``"status": "graded"``; an `Unreadable` gets `unreadable_result` in its place,
    and the others are graded all the same.
    """
    own = zygote is None
    zygote = zygote or Zygote()
    try:
        out = []
        for sub in subs:
            if isinstance(sub, Unreadable):
                result = unreadable_result(sub)
            else:
                result = SubmissionGrader(sub, course, zygote, seed, device).grade(task_ids, pictures=pictures)
            out.append(result)
            if on_done:
                on_done(result)
        return out
    finally:
        if own:
            zygote.close()


def grade_paths(paths, *, keep_going: bool = False, **kwargs) -> list[dict]:
    """Load then grade. An unusable path raises `InputError` before anything is graded; with `keep_going`,
    it gets an "unreadable" result in its place instead, and the other paths are graded."""
    subs = [read_submission(p) if keep_going else load_submission(p) for p in paths]
    return grade_submissions(subs, **kwargs)
