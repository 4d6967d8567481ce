"""What a worker says back, as both sides of the wire read it: one enum of statuses and typed records.

A worker sends one ``case`` frame per case (`CaseReply`); the parent adds the statuses that no worker
can report about itself (``timeout``, ``crashed``, ``not_run``, ``pending``) and the judge the verdicts
(``passed``, ``failed``, ``skipped``). All of them are `Status` members, which are plain strings on the
wire (JSON), so ``Status.OK == "ok"`` on either side.

Standalone (stdlib only), like everything under ``child/``.
"""

from __future__ import annotations

import os
import traceback
from enum import Enum
from typing import TypedDict

try:
    from enum import StrEnum
except ImportError:  # Python 3.10

    class StrEnum(str, Enum):  # type: ignore[no-redef]
        def __str__(self) -> str:
            return str(self.value)


class Status(StrEnum):
    """A case's status: what the worker reported, what the parent saw, then what the judge decided."""

    # from the worker
    OK = "ok"  # the call returned; the parent judges what it returned
    ERROR = "error"  # the student's code raised (`CaseReply.error`)
    MISSING = "missing"  # the submission defines no such function (or only the stub)
    NO_GRAPH = "no_graph"  # `GradsReply` only: no output carries a gradient
    # from the parent, about a worker that could not say
    TIMEOUT = "timeout"  # the task's time ran out on this case
    CRASHED = "crashed"  # the process running the case died
    NOT_RUN = "not_run"  # an earlier case of the task timed out, so this one never ran
    PENDING = "pending"  # a cuda case on a machine without a GPU: listed, never dropped
    # from the judge
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # could not be judged here (code that cannot run on the meta device)


class Op(StrEnum):
    """The `op` of a frame: the parent's requests, then the worker's answers."""

    LOAD = "load"
    RUN = "run"
    BYE = "bye"
    CELL = "cell"  # a notebook cell is about to run (so a hang is charged to it)
    AHEAD = "ahead"  # the cells ran; the modules they import in function bodies are imported now (`ahead`)
    LOADED = "loaded"
    CASE = "case"
    DONE = "done"  # every case of the task was answered
    TIMEOUT = "timeout"  # the task's child ran out of time and was killed
    CRASHED = "crashed"  # the task's child died


class ErrorInfo(TypedDict, total=False):
    type: str  # the exception's class name
    msg: str  # its first line, capped
    tb: str  # the last frames of the student's own code
    frames: list[str]  # function names of the student's frames, outermost first


class OutputInfo(TypedDict, total=False):
    kind: str  # "tensor" or "other"
    name: str  # the payload key of a tensor, "out.0", ...
    type: str  # the type's name, for "other"
    dtype: str
    shape: list[int]
    device: str
    requires_grad: bool
    subclass: bool


class GradsReply(TypedDict, total=False):
    status: Status  # OK, ERROR or NO_GRAPH
    names: list[str]  # "arg.0", "param.W_q.weight", ...: what a gradient was asked for
    present: list[str]  # of those, what got one; each is in the payload as "grad.<name>"
    error: ErrorInfo


class CaseReply(TypedDict, total=False):
    """One case's reply. Which keys are there depends on the case's kind (``attnlab.judging.cases``)."""

    id: str
    status: Status
    seconds: float
    error: ErrorInfo  # status ERROR
    outputs: list[OutputInfo]  # call, module
    tuple: bool  # whether a tuple was returned
    grads: GradsReply
    mutated: list[int]  # indices of the positional arguments changed in place
    forbidden: list[str]  # forbidden calls the detectors saw
    evasion: bool  # a detector layer was switched off or replaced
    callee_forbidden: dict[str, list[str]]  # forbidden calls seen inside each of the student's callees
    callee_calls: list[dict]  # what the callees were called with and returned (`detectors.CalleeRecorder`)
    trace: dict  # the aten ops the dispatcher saw (the canary)
    raised: str | None  # expect_error: the exception's class name, None if it returned
    raised_msg: str
    returned: str  # expect_error: the type it returned instead of raising
    figure: dict  # plot: what was drawn (``figure_data.describe_axes``)
    drew_on_given_ax: bool
    meta_run: dict  # meta_device: {"devices": [...]} or {"error": ErrorInfo}
    projected: dict[str, int]  # a stepped module case: the tokens W_q, W_k and W_v saw, all calls together
    class_state: list[str]  # a module case: the containers defined on the student's class that grew, holding tensors


CHILD_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep  # frames here are the grader's


def _students(frames) -> list:
    return [f for f in frames if not f.filename.startswith(CHILD_DIR) and "site-packages" not in f.filename]


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else "")[:300]


def _formatted(frames) -> str:
    return "".join(traceback.format_list(frames[-3:]))[-1500:]


def student_traceback(e: BaseException) -> str:
    """The last three frames of the student's own code, formatted."""
    return _formatted(_students(traceback.extract_tb(e.__traceback__)))


def error_info(e: BaseException) -> ErrorInfo:
    frames = _students(traceback.extract_tb(e.__traceback__))
    return {
        "type": type(e).__name__,
        "msg": first_line(e),
        "tb": _formatted(frames),
        "frames": [f.name for f in frames],
    }
