"""The rules that excuse or doubt what the forbidden-call detectors saw, next to the judge that applies them.

`excused` says when a forbidden call inside a callee is that callee's task's to answer for, not its caller's.
`trace_gap` is the canary: values that came out right must have been computed where torch's dispatcher saw them
(what a task's spec says its computation does, ``TaskSpec.computes``, names the ops that show it: `NEEDS`).
"""

from __future__ import annotations

from typing import NamedTuple

from ..tasks import TASKS


def excused(callee: str, callee_status: dict, contract: set) -> bool:
    """A forbidden call inside `callee` is charged to `callee` rather than to the task that called it only where
    `callee` is a course task graded in this run (in `callee_status`), defined with its contract's signature
    (in `contract`), and scored 0 for it there (status ``forbidden``)."""
    return callee_status.get(callee) == "forbidden" and callee in contract


# ------------------------------------------------------------------------------------- the canary


class TraceNeed(NamedTuple):
    words: str
    ops: frozenset
    instead: frozenset


#: A matrix product: one of these aten ops, or an elementwise product (a broadcasting q·k, and what einsum makes
#: of a product over a dimension of size 1).
MATMUL = TraceNeed(
    "matrix product",
    frozenset(
        {
            "mm",
            "bmm",
            "matmul",
            "addmm",
            "baddbmm",
            "addbmm",
            "addmv",
            "mv",
            "dot",
            "vdot",
            "inner",
            "outer",
            "ger",
            "linear",
            "einsum",
            "tensordot",
            "chain_matmul",
            "linalg_multi_dot",
        }
    ),
    frozenset({"mul"}),
)
#: An exponential, or what computes one (a softmax where the course allows it).
EXP = TraceNeed(
    "exponential",
    frozenset(
        {
            "exp",
            "exp2",
            "expm1",
            "pow",
            "float_power",
            "logsumexp",
            "sigmoid",
            "softmax",
            "log_softmax",
            "safe_softmax",
            "special_expit",
            "special_exp2",
            "special_expm1",
            "special_softmax",
            "special_log_softmax",
        }
    ),
    frozenset(),
)

#: What torch's dispatcher must see while a task's function computes values that come out right. A task not
#: listed (plot_attention) is not checked; an empty list asks only that something was computed.
#: What a task's spec says its computation does (``TaskSpec.computes``) -> the ops that show it.
NEEDS = {"matmul": MATMUL, "exp": EXP}


def trace_needs(task_id: str) -> list[TraceNeed] | None:
    """What `task_id`'s trace must show ([] for any op at all); None where its spec says nothing (not checked). Read
    from the spec each time: a course's own task joins TASKS when course.yml is loaded."""
    spec = TASKS.get(task_id)
    return None if spec is None or spec.computes is None else [NEEDS[c] for c in spec.computes]


def trace_gap(task_id: str, trace) -> str:
    """'' where a case's dispatch trace (the worker's ``meta["trace"]``) fits what `task_id`'s computation must
    do; else what was missing, in words. Right values with no such trace mean the detectors did not watch."""
    needs = trace_needs(task_id)
    if needs is None:
        return ""
    if not isinstance(trace, dict):
        return "no record of what it computed came back"
    ops, dispatch, function = trace.get("ops"), trace.get("dispatch"), trace.get("function")
    if not isinstance(ops, list) or not all(isinstance(o, str) for o in ops):
        return "no record of what it computed came back"
    if not ops or not isinstance(dispatch, int) or dispatch < len(ops):
        return "torch's dispatcher saw no operation"
    if not isinstance(function, int) or function < 1:
        return "torch saw no call of any of its functions"
    names = {o.strip("_") for o in ops}
    for need in needs:
        if not need.ops & names and not (need.instead and need.instead <= names):
            return f"torch saw no {need.words}"
    return ""
