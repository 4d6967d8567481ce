"""Made-up worker replies, as `runner.Worker` would send them, for judging without a child process.

A test says what a student's function returns on each case (`answer(case) -> (meta, tensors)`), and
`judge` runs the parent's judging on the course's real cases (cpu only), exactly as `attnlab grade` does.
"""

from __future__ import annotations

from pathlib import Path

import torch
from attnlab.course import load_course
from attnlab.grading.cases import DT, make_cases
from attnlab.grading.judge import judge_task

COURSE = load_course(Path(__file__).resolve().parents[2] / "course.yml")
SEED = 5
#: What the worker's dispatch layer reports for an honest computation of any task (``meta["trace"]``).
WATCHED = {
    "ops": ["addmm", "bmm", "div", "exp", "masked_fill", "max", "mm", "ones", "sub", "sum", "tril", "view"],
    "dispatch": 40,
    "function": 30,
}


def cases(task_id: str):
    return make_cases(task_id, SEED, COURSE.dtypes, ["cpu"])


def judge(task_id: str, answer, the_cases=None):
    """The TaskResult for a student whose function gives `answer(case)` on each case."""
    the_cases = cases(task_id) if the_cases is None else the_cases
    replies, tensors = {}, {}
    for c in the_cases:
        replies[c.id], tensors[c.id] = answer(c)
    return judge_task(COURSE.task(task_id), the_cases, replies, tensors, COURSE)


def returns(*outs: torch.Tensor) -> tuple[dict, dict]:
    """The reply to a call that returned `outs` (one tensor, or a tuple of several)."""
    described, tensors = [], {}
    for i, t in enumerate(outs):
        described.append(
            {
                "kind": "tensor",
                "name": f"out.{i}",
                "dtype": str(t.dtype).replace("torch.", ""),
                "shape": list(t.shape),
                "device": t.device.type,
                "requires_grad": False,
                "subclass": False,
            }
        )
        tensors[f"out.{i}"] = t
    meta = {
        "status": "ok",
        "outputs": described,
        "tuple": len(outs) > 1,
        "mutated": [],
        "forbidden": [],
        "evasion": False,
        "callee_calls": [],
        "callee_forbidden": {},
        "trace": dict(WATCHED),
    }
    return meta, tensors


def raised(kind: str, msg: str, tb: str = "", frames=("qk_scores",)) -> tuple[dict, dict]:
    return {
        "status": "error",
        "error": {"type": kind, "msg": msg, "tb": tb, "frames": list(frames)},
        "callee_calls": [],
        "forbidden": [],
        "evasion": False,
    }, {}


def right(case) -> tuple[dict, dict]:
    """The reference's own outputs, in the case's dtype (bool for a mask)."""
    return returns(*(e if e.dtype == torch.bool else e.to(DT[case.dtype]) for e in case.expected))


def filled(case, value) -> tuple[dict, dict]:
    """Every output of the expected shape and dtype, holding `value` everywhere."""
    return returns(
        *(torch.full(e.shape, value, dtype=e.dtype if e.dtype == torch.bool else DT[case.dtype]) for e in case.expected)
    )


def on_meta(case) -> tuple[dict, dict]:
    """The meta-device run of code that keeps its outputs on the inputs' device."""
    return {"status": "ok", "meta_run": {"devices": ["meta"] * len(case.expected)}}, {}


def checks_right(case, values):
    """`values(case)` on value cases; on the meta device and on invalid input, what a careful student does."""
    if case.kind == "meta_device":
        return on_meta(case)
    if case.kind == "expect_error":
        return {
            "status": "ok",
            "raised": case.expected,
            "raised_msg": "invalid",
            "mutated": [],
            "forbidden": [],
            "evasion": False,
            "callee_calls": [],
        }, {}
    return values(case)
