"""The qk_scores task, whole: its contract, reference, cases and knob. Never shipped to students.

Lesson 1: the scores q @ k^T / sqrt(d), one row per query. Its diagnosis rules are public and live in the
catalogue (``attnlab.judging.diagnose``), which the student build carries; everything here is one step from
the answer. May import the contract, the reference, the answers zone's helpers and the grading side's Case.
"""

from __future__ import annotations

import torch

from ... import reference as ref
from ...judging.case import Case
from ...tasks import Knob, Task, TaskSpec
from ..cases import Draw, f64, grads_of

SPEC = TaskSpec(
    "qk_scores",
    "qk_scores",
    args=("q", "k"),
    outputs=("scores",),
    computes=("matmul",),
    todo="compute the scores from q and k, q @ k^T / sqrt(d), one row per query",
    lesson="lesson1_qk_scores",
    axes=(("query", "key"),),
    distributions=(),
    knobs=(
        Knob(
            "args",
            (
                ("k=q", "your scores are q @ q^T / sqrt(d): you used q where k belongs"),
                ("q=k", "your scores are k @ k^T / sqrt(d): you used k where q belongs"),
            ),
        ),
    ),
)


def cases(m: Draw, dtypes: list[str], devices: list[str]) -> list[Case]:
    plan = [
        # (leading, L, S, d, dtype, grad, note)
        ((), 5, 7, 8, "float32", True, "no batch, L != S"),
        ((3,), 4, 4, 8, "float64", True, "one batch dim, square"),
        ((2, 3), 1, 6, 64, "float32", True, "two batch dims, L = 1, d = 64"),
        ((2,), 5, 6, 8, "float16", False, ""),
        ((4,), 6, 6, 64, "bfloat16", False, ""),
        ((), 6, 3, 1, "float32", False, "d = 1"),
        ((2,), 3, 5, 16, "float64", False, "large logits"),
    ]
    out = []
    for n, (lead, L, S, d, dt, grad, note) in enumerate(plan):
        if dt not in dtypes:
            continue
        scale = 30.0 if note == "large logits" else 1.0
        q, k = m.randn(*lead, L, d, dtype=dt, scale=scale), m.randn(*lead, S, d, dtype=dt, scale=scale)
        out.append(_case(m, f"v{n}", q, k, dt, "cpu", grad, note))
    d = 64
    e1 = torch.zeros(1, d, dtype=torch.float32)
    e1[0, 0] = 1.0
    out.append(_case(m, "e1", e1, e1.clone(), "float32", "cpu", False, "probe: q = k = e1, d = 64", probe="e1"))
    if "cuda" in devices:
        q, k = m.randn(2, 5, 8), m.randn(2, 7, 8)
        out.append(_case(m, "cuda", q, k, "float32", "cuda", False, "on cuda"))
    out.append(
        Case(
            SPEC.id,
            "meta",
            "q, k on a device other than the CPU",
            "meta_device",
            {
                "kind": "meta_device",
                "args": [{"shape": [2, 5, 8], "dtype": "float32"}, {"shape": [2, 7, 8], "dtype": "float32"}],
            },
            expected=["meta"],
        )
    )
    return out


def _case(m, cid, q, k, dt, device, grad, note, probe="") -> Case:
    spec = {"kind": "call", "args": [{"t": "q", "grad": grad}, {"t": "k", "grad": grad}]}
    exp = [ref.qk_scores(f64(q), f64(k))]
    case = Case(
        SPEC.id,
        cid,
        f"q {tuple(q.shape)}, k {tuple(k.shape)} {dt}" + (f" ({note})" if note else ""),
        "call",
        spec,
        {"q": q, "k": k},
        dt,
        device,
        exp,
        probe=probe,
    )
    if grad:
        up = m.randn(*exp[0].shape, dtype="float64")
        case.tensors["up0"] = up
        spec["grad"] = {"upstream": ["up0"], "args": [0, 1]}
        gq, gk = grads_of(ref.qk_scores, [f64(q), f64(k)], [up])
        case.expected_grads = {"arg.0": gq, "arg.1": gk}
    return case


def knob_fits(name: str, value: str, case: Case) -> bool:
    return "q" in case.tensors and "k" in case.tensors


def knob_model(name: str, value: str, case: Case) -> torch.Tensor:
    """args: "k=q" uses q as both."""
    t = {k: v.to(torch.float64) for k, v in case.tensors.items() if v.is_floating_point()}
    a, _, b = value.partition("=")
    given = {"q": t["q"], "k": t["k"]}
    given[a] = given[b]
    return ref.qk_scores(given["q"], given["k"])


TASK = Task(SPEC, reference=ref.qk_scores, cases=cases, knob_model=knob_model, knob_fits=knob_fits)
