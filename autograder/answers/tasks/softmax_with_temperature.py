"""The softmax_with_temperature task, whole: its contract, reference, cases and mistake models. Never shipped
to students.

Lesson 2: weights that sum to 1, sharpened or flattened by the temperature. Its diagnosis rules are public
(``attnlab.judging.diagnose``); the models here, which those rules compare with, are one slip from the answer.
May import the contract, the reference, the answers zone's helpers and the grading side's Case.
"""

from __future__ import annotations

import torch

from ... import reference as ref
from ...judging.case import Case
from ...tasks import Task, TaskSpec
from ..cases import Draw, f64, grads_of

SPEC = TaskSpec(
    "softmax_with_temperature",
    "softmax_with_temperature",
    args=("scores",),
    outputs=("weights",),
    computes=("exp",),
    todo="divide the scores by the temperature, subtract the maximum along dim, take exp and divide by its sum "
    "along dim",
    lesson="lesson2_softmax",
    axes=(),
    distributions=("weights",),
)


def cases(m: Draw, dtypes: list[str], devices: list[str]) -> list[Case]:
    plan = [
        # (shape, T, dim, dtype, scale, grad, note)
        ((4, 7), 1.0, -1, "float32", 1.0, True, ""),
        ((2, 3, 5), 0.5, -1, "float64", 1.0, True, "T = 0.5"),
        ((3, 5, 4), 1.0, 1, "float32", 1.0, False, "dim = 1"),
        ((4, 6), 2.0, 0, "float64", 1.0, False, "dim = 0, T = 2"),
        ((2, 6), 0.05, -1, "float32", 1.0, False, "tiny temperature 0.05"),
        ((2, 6), 1e-3, -1, "float64", 3.0, False, "tiny temperature 0.001"),
        ((3, 6), 3.0, -1, "float32", 1.0, False, "T = 3"),
        ((3, 6), 1e3, -1, "float64", 1.0, False, "huge temperature 1000"),
        ((2, 8), 1.0, -1, "float32", 1e4, False, "large logits, |x| ~ 1e4"),
        ((4, 8), 1.0, -1, "float16", 1.0, False, ""),
        ((4, 8), 0.7, -1, "bfloat16", 1.0, False, "T = 0.7"),
    ]
    out = []
    for n, (shape, T, dim, dt, scale, grad, note) in enumerate(plan):
        if dt not in dtypes:
            continue
        out.append(_case(m, f"v{n}", m.randn(*shape, dtype=dt, scale=scale), T, dim, dt, grad, note))
    x = m.randn(3, 5, dtype="float32")
    x[1] = float("-inf")
    out.append(_case(m, "masked_row", x, 1.0, -1, "float32", False, "row 1 is entirely -inf", probe="full_row"))
    x = m.randn(3, 5, dtype="float32")
    out.append(_case(m, "shift", x + 50.0, 1.0, -1, "float32", False, "every score shifted by +50", probe="shift"))
    for bad in ["0.0", "-1.0", "nan", "inf"]:
        out.append(
            Case(
                SPEC.id,
                f"bad_T_{bad}",
                f"temperature = {bad}",
                "expect_error",
                {"kind": "expect_error", "args": [{"t": "x"}, {"float": bad}]},
                {"x": m.randn(2, 3)},
                "float32",
                expected="ValueError",
                probe="invalid_T",
            )
        )
    if "cuda" in devices:
        out.append(_case(m, "cuda", m.randn(4, 7), 1.0, -1, "float32", False, "on cuda", device="cuda"))
    return out


def _case(m, cid, x, T, dim, dt, grad, note, probe="", device="cpu") -> Case:
    spec = {"kind": "call", "args": [{"t": "x", "grad": grad}, {"v": T}], "kwargs": {"dim": {"v": dim}}}
    exp = [ref.softmax_with_temperature(f64(x), T, dim)]
    label = f"scores {tuple(x.shape)} {dt}, temperature {T:g}, dim {dim}" + (f" ({note})" if note else "")
    case = Case(SPEC.id, cid, label, "call", spec, {"x": x}, dt, device, exp, probe=probe, extra={"T": T, "dim": dim})
    if grad:
        up = m.randn(*x.shape, dtype="float64")
        case.tensors["up0"] = up
        spec["grad"] = {"upstream": ["up0"], "args": [0]}
        (gx,) = grads_of(lambda t: ref.softmax_with_temperature(t, T, dim), [f64(x)], [up])
        case.expected_grads = {"arg.0": gx}
    return case


def mistake_models(case: Case) -> list[str]:
    if case.kind != "call" or case.probe == "full_row":
        return []
    T, dim, n = case.extra["T"], case.extra["dim"], case.tensors["x"].dim()
    names = ["temperature_inverted", "temperature_ignored"] if T != 1.0 and T > 0 else []
    return names + [f"wrong_dim:{other}" for other in range(n) if other != dim % n]


def mistake_model(case: Case, slip: str, arg: str) -> torch.Tensor:
    x = case.tensors["x"].to(torch.float64)
    T, dim = case.extra["T"], case.extra["dim"]
    if slip == "temperature_inverted":
        return ref.softmax_with_temperature(x, 1.0 / T, dim)  # softmax(scores * T)
    if slip == "temperature_ignored":
        return ref.softmax_with_temperature(x, 1.0, dim)
    return ref.softmax_with_temperature(x, T, int(arg))  # wrong_dim: along another dim


TASK = Task(
    SPEC,
    reference=ref.softmax_with_temperature,
    cases=cases,
    mistake_models=mistake_models,
    mistake_model=mistake_model,
)
