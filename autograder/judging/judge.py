"""Judging, in the trusted parent: compare what a worker sent back with the reference, and score it.

Input: a task's `Case`s and the worker's replies (plain JSON plus plain tensors). Output: a
`TaskResult` with the score, the status, the diagnoses and the feedback a student reads.

A case passes when every output is a tensor of the right shape, dtype and device, its values are
within the course's tolerance of the reference (computed in float64 from the same inputs), the inputs
are unchanged, the gradients agree, and no forbidden function was called. The score of a task is its
points times the share of its cases that pass. Cases on a GPU the machine does not have are *pending*:
listed, and counted in neither share.

A forbidden call, or values that came out right where the worker's dispatcher saw none of the ops they
need (``detector_tampered``: detectors switched off or replaced), scores the task 0. A forbidden call
inside a callee is the callee's task's only where that task was graded in the same run, is defined with
its contract's signature, and scored 0 for it (``attnlab.judging.excuses.excused``); otherwise the caller's.

A case that checks no values (the run on the meta device, which sees only devices, and the call with
invalid input, which must raise) counts only once the function's values are right on at least one case:
zeros made on the right device score nothing. Such placeholders (zeros, one value everywhere, an input
returned unchanged, a blank heatmap) are named ``constant_output``, before any slip they might resemble.

A caller task (``attention``, ``multi_head_attention``) that fails only because a callee it calls
(``qk_scores``, ``causal_mask``, ...) is wrong is not charged: the parent replays the student's own
callee results through the reference caller (``attnlab.answers.Replay``), and a case that then matches counts
as passed. That needs the reference on inputs the student's code made, so the student build, which has
no reference, skips it; it has no use for it either, since only ``grade`` passes callee statuses, and
``check()`` judges one function on its own.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

import torch

from ..child.replies import CaseReply, Status, StrEnum
from ..tasks import TASKS
from .case import Case
from .cases import answers
from .describe import describe, drawn_as, sharpen
from .diagnose import ERROR_RULES, RULES, SUBSUMES, Diagnosis, constant_outputs, contract_name
from .excuses import excused, trace_gap
from .tolerance import close, within


class TaskStatus(StrEnum):
    PASSED = "passed"  # every counted case passed
    PARTIAL = "partial"  # some did
    FAILED = "failed"  # none did
    ERROR = "error"  # none did, and the code raised or crashed
    TIMEOUT = "timeout"  # the task's time ran out (not because of a callee)
    MISSING = "missing"  # no such function, or the stub unchanged
    FORBIDDEN = "forbidden"  # a forbidden call, or detectors tampered with: scored 0


#: A callee's status (never a task's) where the run does not grade it: an earlier lesson's function, in a lesson's
#: notebook. Never taken as right: a caller's case it touched is replayed with what it returned, and nothing is
#: said to fix it (there it is often the grader's stand-in, ``attnlab.child.placeholders``).
NOT_GRADED = "not_graded"


@dataclass
class CaseResult:
    case: Case
    meta: CaseReply  # what the worker reported ({"status": "timeout"} etc. when it never answered)
    got: list = field(default_factory=list)  # student outputs as float64 tensors (None for non-tensors)
    problems: list[Diagnosis] = field(default_factory=list)
    passed: bool = False
    values_ok: bool = False
    inherited: str = ""  # the callee whose wrong values this case's failure comes from (not charged)
    constant: bool = False  # its outputs are constant (`diagnose.constant_outputs`): the rules do not read it
    blocked_by: str = ""  # the callee that raised, hung or misbehaved so this case could not be checked
    blocked_what: str = ""
    pending: bool = False
    skipped: bool = (
        False  # could not be judged (counted in neither share), e.g. code that cannot run on the meta device
    )
    detail: str = ""  # the largest error, in words
    #: Where the case's callees were replayed and it still failed: the replay's callee functions, through which
    #: the diagnosis rules compute their mistake models (``diagnose.model_output``), so a slip of its own is named.
    replayed: dict | None = None
    #: There, the outputs the reference gives with those callees: what the describer compares with.
    reference: list | None = None
    #: The (atol, rtol) its values were graded with: the course's for the case's dtype.
    tolerance: tuple[float, float] | None = None
    tensors: dict = field(default_factory=dict)  # everything the worker sent back for this case

    @property
    def status(self) -> Status | str:
        """pending, skipped, passed, or why it did not pass: failed, error, timeout, crashed, missing, not_run."""
        if self.pending:
            return Status.PENDING
        if self.skipped:
            return Status.SKIPPED
        if self.passed:
            return Status.PASSED
        said = self.meta.get("status", Status.FAILED)
        return Status.FAILED if said == Status.OK else said

    def to_json(self) -> dict:
        status = self.status
        d = {
            "id": self.case.id,
            "label": self.case.label,
            "dtype": self.case.dtype,
            "device": self.case.device,
            "status": status,
            "diagnoses": [p.id for p in self.problems],
        }
        if self.detail:
            d["detail"] = self.detail
        if self.inherited:
            d["inherited_from"] = self.inherited
        return d


@dataclass
class TaskResult:
    id: str
    score: float
    max_score: float
    status: TaskStatus
    diagnoses: list[Diagnosis]
    cases: list[CaseResult]

    @property
    def feedback(self) -> str:
        if self.status == "passed" and not self.diagnoses:
            return "all cases pass."
        return " ".join(_sentence(d.message) for d in self.diagnoses) or "some cases fail; see the cases."

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "score": round(self.score, 2),
            "max_score": self.max_score,
            "status": self.status,
            "diagnoses": [d.id for d in self.diagnoses],
            "pending": sum(1 for c in self.cases if c.pending),
            "feedback": self.feedback,
            "cases": [c.to_json() for c in self.cases],
        }


def _sentence(s: str) -> str:
    s = s.strip()
    first = s.split(" ", 1)[0]
    if s and "_" not in first and "(" not in first:  # never capitalise a function's name
        s = s[0].upper() + s[1:]
    return s if s.endswith((".", "?", "!")) else s + "."


#: The most characters of one text from the student's process (an exception's message, a line of its
#: traceback) that a message shows; a type, dtype or device name gets STUDENT_NAME. The child cuts its
#: own texts too, but the child is the student's process: only the parent's cut counts. With at most
#: one exception, or one wrong output, per case, a case's feedback holds a few hundred such characters.
STUDENT_TEXT = 200
STUDENT_NAME = 60


def _theirs(text, limit: int = STUDENT_TEXT) -> str:
    """Text that came from the student's process, as a message may show it: one line of printable
    characters, at most `limit` of them (the last one an ellipsis where it was cut)."""
    s = (text if isinstance(text, str) else str(text))[: limit * 4]
    s = " ".join("".join(ch if ch.isprintable() else " " for ch in s).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


# ------------------------------------------------------------------------------------------ comparisons


def describe_error(got: torch.Tensor, exp: torch.Tensor, atol: float, rtol: float) -> str:
    """The largest error and where, in words: 'largest error 0.12 at [1, 3, 2] (got 0.50, expected 0.38)'."""
    diff = (got - exp).abs().nan_to_num(float("inf"))
    bad = ~within(got, exp, atol, rtol)
    flat = int(torch.argmax(diff.masked_fill(~bad, -1.0)).item())
    idx = list(torch.unravel_index(torch.tensor(flat), exp.shape)) if exp.dim() else []
    where = "[" + ", ".join(str(int(i)) for i in idx) + "]"
    g, e = got.flatten()[flat].item(), exp.flatten()[flat].item()
    share = f"{int(bad.sum())} of {bad.numel()} values are off"
    return f"{share}; the largest error is {diff.flatten()[flat].item():.3g} at {where} (got {g:.4g}, expected {e:.4g})"


# ------------------------------------------------------------------------------------------- one case


def judge_case(case: Case, meta: CaseReply, tensors: dict, course) -> CaseResult:
    """One case: what the worker said (`meta`, a ``CaseReply``, or the parent's own status where it never
    answered) and sent (`tensors`), judged by the handler for the case's kind (`KINDS`)."""
    r = CaseResult(case, meta, tensors=tensors)
    status = meta.get("status")
    if status == Status.PENDING:
        r.pending = True
        return r
    if status in (Status.TIMEOUT, Status.CRASHED, Status.MISSING, Status.NOT_RUN):
        return r
    if status == Status.ERROR:
        return _judge_error(r, meta.get("error", {}))
    tol = course.tolerances.get(case.dtype)
    hits = meta.get("forbidden") or []
    if hits or meta.get("evasion"):
        name = _theirs(", ".join(map(str, hits))) if hits else "a switch that hides torch calls from the grader"
        r.problems.append(Diagnosis.make("forbidden_call", name=name, line=""))
    r.tolerance = (tol.atol, tol.rtol) if tol else (0.0, 0.0)
    return KINDS[case.kind](r, r.tolerance)


def _judge_error(r: CaseResult, err: dict) -> CaseResult:
    """The student's code raised: a stub not written yet, a known mistake's symptom, or an exception in words."""
    case = r.case
    frames = err.get("frames") or []
    if err.get("type") == "NotImplementedError" and not (frames and frames[-1] in TASKS[case.task].callees):
        r.meta["status"] = Status.MISSING
        return r
    if "in-place operation" in str(err.get("msg", "")):
        which = "tensor (torch refused: it needs it for the gradient)"
        r.problems.append(Diagnosis.make("mutates_input", case=case.label, which=which))
        return r
    rule = ERROR_RULES.get(case.task)
    named = rule(case, err) if rule else None
    if named is not None:  # the exception is a known mistake's symptom: say which, with the error in it
        r.problems.append(named)
        return r
    error = f"{_theirs(err.get('type'), STUDENT_NAME)}: {_theirs(err.get('msg', '')).rstrip('.')}"
    r.problems.append(Diagnosis.make("exception", case=case.label, error=error, where=_where(err.get("tb", ""))))
    return r


def _judge_expect_error(r: CaseResult, tolerance: tuple[float, float]) -> CaseResult:
    """The call must raise the expected exception type on invalid input."""
    case, meta = r.case, r.meta
    raised = meta.get("raised")
    if raised == "NotImplementedError":
        r.meta["status"] = Status.MISSING  # a stub not yet written says nothing about its error handling
        return r
    r.passed = raised == case.expected
    if not r.passed and raised:
        said = f"{_theirs(raised, STUDENT_NAME)} ({_theirs(meta.get('raised_msg', ''))})"
        r.detail = f"raised {said}, expected {case.expected}"
    elif not r.passed:
        r.detail = f"returned a {_theirs(meta.get('returned'), STUDENT_NAME)} instead of raising {case.expected}"
    return r


def _judge_meta_device(r: CaseResult, tolerance: tuple[float, float]) -> CaseResult:
    """On meta-device inputs, every output must stay on the meta device."""
    case = r.case
    run = r.meta.get("meta_run", {})
    if "error" in run:
        msg = _theirs(run["error"].get("msg", ""))
        if run["error"].get("type") == "NotImplementedError" and "meta" not in msg.lower():
            r.meta["status"] = Status.MISSING
        elif "device" in msg.lower():
            r.problems.append(Diagnosis.make("wrong_device", case=case.label, detail=_mixed_devices(case, msg)))
        else:
            r.skipped = True  # this code cannot run on the meta device (.item(), ...); the real-device cases judge it
            r.detail = "not checkable on the meta device: " + msg[:120]
        return r
    devices = [str(d) for d in run.get("devices", [])]
    if any(d != "meta" for d in devices):
        spec = TASKS[case.task]
        names = [spec.output_name(i) for i, d in enumerate(devices) if d != "meta"]
        on = "the CPU" if all(d == "cpu" for d in devices if d != "meta") else _theirs(", ".join(devices))
        verb = "was" if len(names) == 1 else "were"
        detail = f"your {' and '.join(names)} {verb} made on {on} while {_elsewhere(case)}"
        r.problems.append(Diagnosis.make("wrong_device", case=case.label, detail=detail))
        return r
    r.passed = not r.problems
    return r


def _elsewhere(case: Case) -> str:
    """Where the meta-device case put its inputs, in a student's words: the meta device stands in for a GPU."""
    if "device" in case.spec.get("kwargs", {}):
        return "device= asked for another device"
    return "the inputs were on another device"


def _mixed_devices(case: Case, msg: str) -> str:
    """The device-mixing error of a meta-device case, in a student's words."""
    op, sep, _ = msg.partition(" mixes tensors on different devices")
    if sep and op.isidentifier():
        return f"`{op}` mixed a tensor made on the CPU with one elsewhere, since {_elsewhere(case)}"
    return f"mixing devices raised: {msg}"


def _judge_values(r: CaseResult, tolerance: tuple[float, float]) -> CaseResult:
    """call / module: outputs of the right structure, shape, dtype and device, values and gradients within
    `tolerance` of the reference, inputs unchanged."""
    case, meta = r.case, r.meta
    outs = meta.get("outputs", [])
    if not _structure_ok(r, outs):
        return r
    values_ok = True
    for i, (o, e) in enumerate(zip(outs, case.expected)):
        values_ok = _judge_output(r, i, o, e, tolerance) and values_ok
    r.values_ok = values_ok
    for i in meta.get("mutated", []):
        r.problems.append(Diagnosis.make("mutates_input", case=case.label, which=TASKS[case.task].arg_name(i)))
    _watched(r, values_ok)
    _recomputed(r)
    grads_ok = _judge_grads(r, meta, r.tensors, *tolerance) if values_ok else True
    r.passed = values_ok and grads_ok and not r.problems
    return r


def _structure_ok(r: CaseResult, outs: list) -> bool:
    """One tensor where one is due, a tuple of the right length where several are; else non_tensor_output."""
    case, meta, spec = r.case, r.meta, TASKS[r.case.task]
    n = len(case.expected)
    if n == 1 and meta.get("tuple"):
        got = f"a tuple of {len(outs)}"
        r.problems.append(Diagnosis.make("non_tensor_output", case=case.label, got=got, want="one tensor"))
        return False
    if n > 1 and (not meta.get("tuple") or len(outs) != n):
        if meta.get("tuple"):
            got = f"a tuple of {len(outs)}"
        elif outs:
            got = "a " + _theirs(outs[0].get("type") or outs[0].get("dtype", "?") + " tensor", STUDENT_NAME)
        else:
            got = "nothing"
        want = f"a tuple ({', '.join(spec.output_name(i) for i in range(n))})"
        r.problems.append(Diagnosis.make("non_tensor_output", case=case.label, got=got, want=want))
        return False
    return True


def _judge_output(r: CaseResult, i: int, o: dict, e: torch.Tensor, tolerance: tuple[float, float]) -> bool:
    """Output i (`o`, as the worker described it) against the expected `e`; whether its values are right."""
    case = r.case
    which = TASKS[case.task].output_name(i)
    if o["kind"] != "tensor":
        got = f"a {_theirs(o.get('type'), STUDENT_NAME)}"
        r.problems.append(
            Diagnosis.make("non_tensor_output", case=case.label, got=got, want=f"a torch.Tensor for {which}")
        )
        r.got.append(None)
        return False
    want_dtype = "bool" if e.dtype == torch.bool else case.dtype
    if o["dtype"] != want_dtype:
        got = _theirs(o["dtype"], STUDENT_NAME)
        r.problems.append(
            Diagnosis.make(
                "wrong_dtype", case=case.label, which=which, got=got, want=want_dtype, fix=_dtype_fix(case, e)
            )
        )
    if o["device"] != case.device:
        detail = f"{which} is on {_theirs(o['device'], STUDENT_NAME)}, expected {case.device}"
        r.problems.append(Diagnosis.make("wrong_device", case=case.label, detail=detail))
    got = r.tensors.get(o["name"])
    got64 = None if got is None else got.to(torch.float64)
    r.got.append(got64)
    if list(o["shape"]) != list(e.shape):
        got_shape = _theirs(tuple(o["shape"]), STUDENT_NAME)
        r.problems.append(
            Diagnosis.make("wrong_shape", case=case.label, which=which, got=got_shape, want=tuple(e.shape))
        )
        return False
    e64 = e.to(torch.float64)
    if got64 is not None and close(got64, e64, *tolerance):
        return True
    if got64 is not None:
        nonfinite = ~torch.isfinite(got64) & torch.isfinite(e64)
        if nonfinite.any():
            where = f" ({int(nonfinite.sum())} values of {which})"
            r.problems.append(Diagnosis.make("nan_output", case=case.label, where=where))
        r.detail = f"{which}: " + describe_error(got64, e64, *tolerance)
    return False


def _dtype_fix(case: Case, e: torch.Tensor) -> str:
    """How to get the dtype right: keep the inputs' where there are tensor inputs, else make it as asked."""
    if e.dtype == torch.bool:
        return "return a bool tensor (a comparison such as j <= i gives one; torch.ones(..., dtype=torch.bool) too)"
    if any(isinstance(t, torch.Tensor) and t.is_floating_point() for t in case.tensors.values()):
        return "keep the input's dtype (no .float() or torch.tensor(...) with a default dtype)"
    return (
        f"make it {case.dtype} (dtype=torch.{case.dtype}; NumPy arrays and torch.tensor of Python floats come out "
        "float64)"
    )


def _watched(r: CaseResult, right: bool) -> None:
    """The canary: values that come out `right` were computed by ops the worker's dispatch layer must have seen.
    Where its trace lacks them (switched off, replaced, or fooled detectors), the case is not credited."""
    gap = trace_gap(r.case.task, r.meta.get("trace")) if right else ""
    if gap:
        r.problems.append(Diagnosis.make("detector_tampered", case=r.case.label, what=gap))


def _recomputed(r: CaseResult) -> None:
    """A KV cache projects each token once: a stepped case whose W_k or W_v saw more tokens than the sequence has
    computed the earlier tokens' keys and values again (``cache_recomputes``), whatever its values."""
    tokens, seen = r.case.extra.get("tokens"), r.meta.get("projected")
    if not tokens or not isinstance(seen, dict):
        return
    over = {
        name: n
        for name, n in seen.items()
        if name in ("W_k", "W_v") and type(n) is int and n > tokens  # the worker's numbers: ints, or nothing
    }
    if over:
        layers = " and ".join(sorted(over))
        r.problems.append(
            Diagnosis.make("cache_recomputes", case=r.case.label, layers=layers, rows=max(over.values()), tokens=tokens)
        )


def _judge_grads(r: CaseResult, meta: dict, tensors: dict, atol: float, rtol: float) -> bool:
    case = r.case
    if not case.expected_grads:
        return True
    g = meta.get("grads")
    if g is None:
        return True
    if g.get("status") == "error":
        e = g["error"]
        r.detail = f"the backward pass raised {_theirs(e.get('type'), STUDENT_NAME)}: {_theirs(e.get('msg', ''))}"
        return False
    if g.get("status") != "ok":
        r.detail = "no gradient flows back from your outputs"
        return False
    ok = True
    for name, e in case.expected_grads.items():
        got = tensors.get(f"grad.{name}")
        if got is None:
            if e is not None and e.abs().max() > 0:
                r.detail = f"no gradient reaches {contract_name(case, name)}"
                ok = False
            continue
        scale = max(1.0, float(e.abs().max()))
        if not close(got.to(torch.float64), e, atol * scale, rtol):
            r.problems.append(
                Diagnosis.make(
                    "gradient_mismatch",
                    case=case.label,
                    what=contract_name(case, name),
                    err=float((got.double() - e).abs().max()),
                    hint="",
                )
            )
            ok = False
    return ok


def _judge_plot(r: CaseResult, tolerance: tuple[float, float]) -> CaseResult:
    """plot: what the student's function drew (``plot_judge``), and a blank heatmap named as such."""
    import numpy as np

    from .plot_judge import judge_plot

    case, meta, tensors = r.case, r.meta, r.tensors
    fig = meta.get("figure", {})
    arrays = {k[4:]: v.numpy() for k, v in tensors.items() if k.startswith("fig.")}
    verdict = judge_plot(
        fig,
        arrays,
        np.asarray(case.expected[0].numpy()),
        case.extra["query_tokens"],
        case.extra["key_tokens"],
        drawn_as=functools.partial(drawn_as, task_id=case.task),
    )
    constant = _constant_grid(arrays.get("grid"), np.asarray(case.expected[0].numpy(), dtype=np.float64))
    for did, msg in zip(verdict.diagnoses, verdict.messages):
        if not (constant and did == "plot_wrong_data"):  # a blank heatmap is not a mislabelled one
            r.problems.append(Diagnosis(did, _theirs(msg, 3 * STUDENT_TEXT)))  # it may quote the figure's labels
    if constant:
        r.problems.insert(
            0,
            Diagnosis.make(
                "constant_output",
                case=case.label,
                function=TASKS[case.task].function,
                what=f"draws {constant} in every cell",
                expected="the weights vary",
                todo=TASKS[case.task].todo,
            ),
        )
    if case.extra.get("give_ax") and not meta.get("drew_on_given_ax"):
        r.problems.append(
            Diagnosis(
                "plot_wrong_data",
                "when an `ax` is passed in, draw on it and return it, instead of making a new figure.",
            )
        )
    r.passed = verdict.passed and not r.problems
    r.values_ok = r.passed
    return r


def _constant_grid(grid, w) -> str:
    """'zeros' or 'the same value (0.5)' where the drawn grid (weights' shape, either way round) holds one
    value and the weights do not; '' otherwise."""
    import numpy as np

    if grid is None or grid.ndim != 2 or grid.size < 2 or grid.shape not in (w.shape, w.shape[::-1]):
        return ""
    if not np.isfinite(grid).all() or grid.max() != grid.min() or float(w.max() - w.min()) <= 1e-3:
        return ""
    v = float(grid.flat[0])
    return "zeros" if v == 0 else f"the same value ({v:.4g})"


def _where(tb: str) -> str:
    """' at File "...", line 3, in f: `the line`' from the last frame of the student's traceback, capped."""
    lines = [ln.strip() for ln in str(tb)[-4 * STUDENT_TEXT :].strip().splitlines() if ln.strip()]
    if len(lines) < 2:
        return ""
    return f" at {_theirs(lines[-2], STUDENT_TEXT // 2)}: `{_theirs(lines[-1], STUDENT_TEXT // 2)}`"


# ------------------------------------------------------------------------------------------- one task


#: case kind -> its handler: f(CaseResult, (atol, rtol)). The worker's table is ``attnlab.child.worker.KINDS``.
KINDS = {
    "call": _judge_values,
    "module": _judge_values,
    "expect_error": _judge_expect_error,
    "meta_device": _judge_meta_device,
    "plot": _judge_plot,
}

#: Case kinds that compare values; the others check only devices (meta_device) or that bad input raises.
VALUE_KINDS = ("call", "module", "plot")
UNCHECKED = {
    "meta_device": "your outputs stay on the inputs' device",
    "expect_error": "it raised {expected} as it should",
}


def judge_task(
    task,
    cases: list[Case],
    replies: dict[str, CaseReply],
    tensors: dict,
    course,
    *,
    findings=None,
    callee_status: dict | None = None,
    failure: dict | None = None,
    uses: set[str] | None = None,
    contract: set[str] | None = None,
) -> TaskResult:
    """Score one task. `replies` maps case id -> worker meta; `failure` is a task-level event
    ({"status": "timeout"|"crashed"|"missing", ...}) that stopped the remaining cases; `uses` names
    the top-level functions the task's function calls, directly or not (for timeouts).

    `findings` are the source scan's findings in the task's function, in the top-level functions it uses and
    at load (``attnlab.judging.scan.Finding``, each with its `owner`); `callee_status` maps the callee
    tasks graded earlier in this run to their status, and `contract` names those of them the submission defines
    with the contract's signature. A forbidden call inside a callee, seen by the scan or at run time, is
    charged here unless that callee answers for it (``attnlab.judging.excuses.excused``)."""
    callee_status, contract = callee_status or {}, contract or set()
    not_run = {"status": (failure or {}).get("status", Status.NOT_RUN)}
    results = [judge_case(c, replies.get(c.id, not_run), tensors.get(c.id, {}), course) for c in cases]
    missing = _missing(task, results, failure)
    if missing is not None:
        return missing

    _attribute_to_callees(task.id, results, callee_status, uses or set())
    _charge_callee_calls(results, callee_status, contract)
    _credit_only_with_values(results)
    constant = constant_outputs(results, task.function)
    for i, d in constant.items():
        results[i].constant = True
        if d is not None:  # a placeholder: an input unchanged may hold -inf, which is no NaN bug
            results[i].problems = [d] + [p for p in results[i].problems if p.id != "nan_output"]
    diagnoses = _diagnoses(task, results, constant, findings or [], callee_status, contract)
    diagnoses += _events(task, results, failure, callee_status)
    shared = _shared_state(task, results)
    diagnoses = [shared] + diagnoses if shared else _with_description(task, results, diagnoses)
    redundant = set().union(*(SUBSUMES.get(d.id, set()) for d in diagnoses))
    diagnoses = [d for d in diagnoses if d.id not in redundant]
    counted = [r for r in results if not (r.pending or r.skipped)]
    passed = [r for r in counted if r.passed]
    score = task.points * len(passed) / len(counted) if counted else 0.0
    status = _task_status(results, counted, passed, diagnoses)
    if status == TaskStatus.FORBIDDEN:
        score = 0.0
    if status == TaskStatus.PASSED:
        diagnoses = [d for d in diagnoses if d.id != "callee_failed"]  # nothing was charged: nothing to say
    elif not [d for d in diagnoses if d.id != "callee_failed"]:
        first = next((r for r in counted if not r.passed and r.detail), None)
        if first is not None:
            diagnoses.insert(0, Diagnosis.make("wrong_values", case=first.case.label, detail=first.detail))
    return TaskResult(task.id, score, task.points, status, diagnoses, results)


def _missing(task, results: list[CaseResult], failure: dict | None) -> TaskResult | None:
    """The task's result where its function is missing, or is the stub whatever its other checks say; else None."""
    if failure and failure.get("status") == Status.MISSING:
        said = _theirs(failure.get("load", ""), 2 * STUDENT_TEXT)  # " (loading stopped at ...)", or nothing
        load = f" {said}" if said else ""
        diagnosis = Diagnosis.make("missing", function=task.function, load=load)
        return TaskResult(task.id, 0.0, task.points, TaskStatus.MISSING, [diagnosis], results)
    valued = [r for r in results if r.case.kind in VALUE_KINDS and not (r.pending or r.skipped)]
    if valued and all(r.meta.get("status") == Status.MISSING for r in valued):
        diagnosis = Diagnosis.make("not_implemented", function=task.function)
        return TaskResult(task.id, 0.0, task.points, TaskStatus.MISSING, [diagnosis], results)
    return None


def _diagnoses(
    task, results: list[CaseResult], constant: dict, findings: list, callee_status: dict, contract: set[str]
) -> list[Diagnosis]:
    """The task's diagnoses, headline first: a placeholder, then the task's rules, a forbidden call the scan
    found, and every case's problems (each id once)."""
    diagnoses: list[Diagnosis] = []
    charged = [f for f in findings if f.owner in ("", task.function) or not excused(f.owner, callee_status, contract)]
    if charged:
        diagnoses.append(_scan_finding(task, charged[0]))
    for r in results:
        for p in r.problems:
            if p.id not in {d.id for d in diagnoses}:
                diagnoses.append(p)
    rule = RULES.get(task.id)
    specific = rule([r for i, r in enumerate(results) if i not in constant]) if rule else []
    for d in specific:
        if d.id not in {x.id for x in diagnoses}:
            diagnoses.insert(0, d)
    named = [d for d in constant.values() if d is not None]
    if named:  # a placeholder comes before anything else it may also show
        diagnoses = [named[0]] + [d for d in diagnoses if d.id != "constant_output"]
    return diagnoses


def _shared_state(task, results: list[CaseResult]) -> Diagnosis | None:
    """shared_state: a module whose class holds a list or dict that grew with tensors as it ran (the worker's
    ``class_state``), where the task's first module case passed and a later one did not: the leftovers of one
    instance in the next. A class that caches harmlessly, in a module right on every case, is never named."""
    module_cases = [r for r in results if r.case.kind in ("module", "meta_device") and not (r.pending or r.skipped)]
    names = sorted(
        {_theirs(n, STUDENT_NAME) for r in results for n in (r.meta.get("class_state") or []) if isinstance(n, str)}
    )
    valued = [r for r in module_cases if r.case.kind == "module"]
    if not names or not valued or not valued[0].passed or all(r.passed for r in module_cases):
        return None
    shown = " and ".join(f"`{n}`" for n in names[:3])
    many = len(names) > 1
    return Diagnosis.make(
        "shared_state",
        function=task.function,
        names=shown,
        first=names[0],
        it="them" if many else "it",
        they="they" if many else "it",
        hold="hold" if many else "holds",
    )


#: What the describer may stand in front of: findings that say what happened, not how the values are wrong.
DESCRIBABLE = {
    "wrong_shape",
    "wrong_values",
    "nan_output",
    "wrong_dtype",
    "wrong_device",
    "gradient_mismatch",
    "callee_failed",
    "blocked_by_callee",
    "exception",
    "timeout",
    "crashed",
    "constant_output",
}


def _with_description(task, results: list[CaseResult], diagnoses: list[Diagnosis]) -> list[Diagnosis]:
    """`diagnoses` with the describer's relation first (``attnlab.judging.describe``), where no rule named the
    mistake: a rule's diagnosis keeps priority, and a placeholder does where every wrong case is one."""
    if not all(d.id in DESCRIBABLE for d in diagnoses):
        try:
            return [sharpen(task.id, results, d) for d in diagnoses]
        except Exception:  # noqa: BLE001 - as below: a sharper word must never cost the grade
            if os.environ.get("ATTNLAB_STRICT_DESCRIBE"):
                raise
            return diagnoses
    try:
        described = describe(task.id, results)
    except Exception:  # noqa: BLE001 - a description that fails must never cost the grade; the tests find it
        if os.environ.get("ATTNLAB_STRICT_DESCRIBE"):
            raise
        return diagnoses
    return diagnoses if described is None else [described] + diagnoses


def _scan_finding(task, f) -> Diagnosis:
    """forbidden_call for a finding of the source scan (``attnlab.judging.scan.Finding``)."""
    if f.evasion:
        name = (
            f"`{f.name.split(':', 1)[1]}` (it reaches past your code into the grader's, or hides torch calls from it)"
        )
    else:
        name = f"`{f.name}`"
    if f.owner not in ("", task.function):
        name += f" in your {_theirs(f.owner, STUDENT_NAME)}, which {task.function} uses"
    line = f" on line {f.line}: `{_theirs(f.text)}`" if f.line else ""
    return Diagnosis.make("forbidden_call", name=name, line=line)


def _events(task, results: list[CaseResult], failure: dict | None, callee_status: dict) -> list[Diagnosis]:
    """What happened to the task rather than in its values: blocked by a callee, a timeout, a crash, a
    callee's mistake that was not charged (not said of a callee this run does not grade: there it is an earlier
    lesson's, often the grader's stand-in, and nothing to fix here)."""
    out = []
    timeouts = [r for r in results if r.meta.get("status") == Status.TIMEOUT]
    crashed = [r for r in results if r.meta.get("status") == Status.CRASHED and not r.blocked_by]
    blocked = [r for r in results if r.blocked_by]
    for r in blocked[:1]:
        out.append(
            Diagnosis.make("blocked_by_callee", task=task.id, n=len(blocked), callee=r.blocked_by, what=r.blocked_what)
        )
    if failure and failure.get("status") == Status.TIMEOUT and not (timeouts and timeouts[0].blocked_by):
        where = f"on {failure.get('case', 'a case')}"
        out.append(Diagnosis.make("timeout", where=where, seconds=failure.get("seconds", 0)))
    if crashed:
        out.append(Diagnosis.make("crashed", where=f" on {crashed[0].case.label}"))
    for callee in sorted({r.inherited for r in results if r.inherited}):
        if callee_status.get(callee) != NOT_GRADED:
            out.append(Diagnosis.make("callee_failed", task=task.id, callee=callee))
    return out


def _task_status(
    results: list[CaseResult], counted: list[CaseResult], passed: list[CaseResult], diagnoses: list[Diagnosis]
) -> TaskStatus:
    if any(d.id in ("forbidden_call", "detector_tampered") for d in diagnoses):
        return TaskStatus.FORBIDDEN
    if any(r.meta.get("status") == Status.TIMEOUT and not r.blocked_by for r in results):
        return TaskStatus.TIMEOUT
    if len(passed) == len(counted):
        return TaskStatus.PASSED
    if any(r.meta.get("status") in (Status.ERROR, Status.CRASHED) for r in counted) and not passed:
        return TaskStatus.ERROR
    return TaskStatus.PARTIAL if passed else TaskStatus.FAILED


def _credit_only_with_values(results: list[CaseResult]) -> None:
    """A case that checks no values earns points only where the function's values are right on some case:
    otherwise zeros made on the right device, or a stub that raises ValueError, would score."""
    if any(r.case.kind in VALUE_KINDS and (r.values_ok or r.passed) for r in results):
        return
    for r in results:
        if r.passed and r.case.kind in UNCHECKED:
            r.passed = False
            said = UNCHECKED[r.case.kind].format(expected=r.case.expected)
            r.detail = f"{said}, but this check earns points only once your values are right on at least one case"


def _charge_callee_calls(results: list[CaseResult], callee_status: dict, contract: set[str]) -> None:
    """Forbidden calls the worker saw inside the student's callees (``meta["callee_forbidden"]``): charged to
    this task's case unless the callee answers for them (``attnlab.judging.excuses.excused``)."""
    for r in results:
        seen = r.meta.get("callee_forbidden")
        if not isinstance(seen, dict):
            continue
        for callee, hits in sorted(seen.items()):
            if not hits or excused(callee, callee_status, contract):
                continue
            names = _theirs(", ".join(map(str, hits))) if isinstance(hits, list) else "a forbidden call"
            where = _theirs(callee, STUDENT_NAME)
            r.problems.append(Diagnosis.make("forbidden_call", name=f"{names} (inside your {where})", line=""))
            r.passed = False


def _attribute_to_callees(task_id: str, results: list[CaseResult], callee_status: dict, uses: set[str]) -> None:
    failing = [c for c in TASKS[task_id].callees if callee_status.get(c, Status.PASSED) != Status.PASSED]
    if not failing:
        return
    for r in results:
        status = r.meta.get("status")
        if r.case.kind == "meta_device" and not r.passed:
            # a callee this run does not grade is not known to be wrong: the case's own problem shows instead
            suspects = [c for c in failing if c in uses and callee_status.get(c) != NOT_GRADED]
            if suspects:
                r.blocked_by, r.blocked_what = suspects[0], "is wrong"
                r.problems = []
            continue
        if status in ("timeout", "crashed"):
            event = {"timeout": ("timeout",), "crashed": ("error", "partial", "failed")}[status]
            culprits = [c for c in failing if c in uses and callee_status.get(c) in event]
            if culprits:
                r.blocked_by = culprits[0]
                r.blocked_what = "did not finish" if status == "timeout" else "ended the process"
            continue
        if status == "error" and not r.passed:
            culprit = _callee_culprit(r, failing)
            if culprit:
                r.blocked_by, r.blocked_what = culprit
                r.problems = [p for p in r.problems if p.id not in ("exception",)]
            continue
        if r.passed or not r.meta.get("callee_calls"):
            continue
        names = {c["name"] for c in r.meta["callee_calls"]}
        called = [c for c in failing if c in names]
        if not called:
            continue
        if r.case.recompute is None:  # the student build: no reference to replay the callees through
            r.blocked_by, r.blocked_what = called[0], "is wrong"
            r.problems = [p for p in r.problems if p.id not in ("wrong_shape", "nan_output", "gradient_mismatch")]
            continue
        replay = answers().Replay(r.meta["callee_calls"], r.tensors)  # recompute is set: the full install
        functions = replay.functions()
        try:
            expected = r.case.recompute(**{k: v for k, v in functions.items() if k in TASKS[task_id].replayed})
        except Exception:  # noqa: BLE001 - a replay that does not fit proves nothing either way
            continue
        if len(r.got) == len(expected) and all(
            g is not None and close(g, e.to(torch.float64), *_replay_tol(r)) for g, e in zip(r.got, expected)
        ):
            _watched(r, True)  # right given its callees: the canary applies as to values right outright
            if any(p.id == "detector_tampered" for p in r.problems):
                continue
            r.passed = True
            r.inherited = called[0]
            r.problems = [p for p in r.problems if p.id not in ("nan_output", "gradient_mismatch")]
        else:
            # Wrong even given what its own callees returned: a slip of its own. Say how far off it is from what
            # the reference would give with those callees, and let the rules name the slip through them too.
            r.replayed = {k: f for k, f in functions.items() if k in TASKS[task_id].replayed}
            r.reference = [e.to(torch.float64) for e in expected]
            _replayed_detail(r, expected)


def _replayed_detail(r: CaseResult, expected) -> None:
    """`r.detail`, the largest error in words, against the replayed `expected` outputs."""
    tolerance = _replay_tol(r)
    for i, (g, e) in enumerate(zip(r.got, expected)):
        e64 = e.to(torch.float64)
        if g is not None and g.shape == e64.shape and not close(g, e64, *tolerance):
            r.detail = f"{TASKS[r.case.task].output_name(i)}: " + describe_error(g, e64, *tolerance)
            return


def _callee_culprit(r: CaseResult, failing: list[str]) -> tuple[str, str] | None:
    """The failing callee that raised inside this case, or that returned a tensor of the wrong dtype or
    shape just before the caller raised; None when the caller's own code is to blame."""
    frames = r.meta.get("error", {}).get("frames", [])
    models = answers()  # None in the student build: no reference to ask
    calls = r.meta.get("callee_calls", [])
    raised = [c for c in calls if c.get("raised")]
    if (
        models is not None
        and raised
        and not any(_returned_wrong(c, r, models) for c in calls if c["name"] in failing and not c.get("raised"))
        and all(not any("other" in a for a in c["args"]) and models.reference_raises(c, r.tensors) for c in raised)
    ):
        return None  # no callee handed it anything wrong, and the reference callee raises on what the caller passed
    inner = [f for f in frames if f in failing]
    if inner and frames and frames[-1] in failing:
        return frames[-1], "raised an error"
    for call in r.meta.get("callee_calls", []):
        if call["name"] not in failing:
            continue
        if call.get("raised"):
            return call["name"], f"raised {_theirs(call['raised']['type'], STUDENT_NAME)}"
        for res in call["result"]:
            t = r.tensors.get(res.get("t", ""))
            if t is not None and t.dtype != torch.bool and str(t.dtype).replace("torch.", "") != r.case.dtype:
                return call["name"], f"returned {str(t.dtype).replace('torch.', '')} for {r.case.dtype} inputs"
            if "other" in res:
                return call["name"], f"returned a {_theirs(res['other'], STUDENT_NAME)}"
        want = models.reference_shapes(call, r.tensors) if models is not None else None
        got = [tuple(r.tensors[res["t"]].shape) for res in call["result"] if "t" in res]
        if want is not None and len(got) == len(want) and got != want:
            return call[
                "name"
            ], f"returned shape {got[0] if len(got) == 1 else got} where {want[0] if len(want) == 1 else want} was due"
    return None


def _returned_wrong(call: dict, r: CaseResult, models) -> bool:
    """Whether a callee call returned something the reference callee would not have: another type, another
    dtype, another shape."""
    for res in call["result"]:
        t = r.tensors.get(res.get("t", ""))
        if "other" in res or (t is not None and t.dtype != torch.bool and str(t.dtype)[6:] != r.case.dtype):
            return True
    want = models.reference_shapes(call, r.tensors)
    got = [tuple(r.tensors[res["t"]].shape) for res in call["result"] if "t" in res]
    return want is not None and len(got) == len(want) and got != want


def _replay_tol(r: CaseResult) -> tuple[float, float]:
    return (1e-5, 1e-5) if r.case.dtype in ("float64", "float32") else (5e-2, 5e-2)
