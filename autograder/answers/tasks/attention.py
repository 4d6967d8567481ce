"""The attention task, whole: its contract, reference, cases, mistake models and knobs. Never shipped to students.

Lesson 3: the weighted blend, softmax(q @ k^T / sqrt(d)) @ v, with hidden keys set to -inf first. It calls the
student's qk_scores and softmax_with_temperature, which the callee replay (``attnlab.answers.replay``) stands in
for. Its diagnosis rules are public (``attnlab.judging.diagnose``). May import the contract, the reference, the
answers zone's helpers and the grading side's Case.
"""

from __future__ import annotations

import torch

from ... import reference as ref
from ...judging.case import Case
from ...tasks import Knob, Task, TaskSpec
from ..cases import Draw, f64, grads_of
from ..replay import rebound

SPEC = TaskSpec(
    "attention",
    "attention",
    args=("q", "k", "v", "mask"),
    outputs=("output", "weights"),
    callees=("qk_scores", "softmax_with_temperature"),
    replayed=("qk_scores", "softmax_with_temperature"),
    computes=("matmul", "exp"),
    todo="the weights are the softmax of the scaled scores (hidden keys set to -inf first), and the output is the "
    "weights times v",
    lesson="lesson3_masking",
    axes=(("query", "feature"), ("query", "key")),
    distributions=("weights",),
    knobs=(
        Knob(
            "args",
            (
                ("v=k", "your output is weights @ k: the blend must mix the values, weights @ v"),
                ("v=q", "your output is weights @ q: the blend must mix the values, weights @ v"),
            ),
        ),
        Knob(
            "blend",
            (
                (
                    "scores",
                    "your output is scores @ v, the values mixed by the scores from before the softmax: the blend "
                    "must use the weights, weights @ v",
                ),
                (
                    "weights^T",
                    "your output is weights^T @ v, the weights transposed: each query's output must mix the values "
                    "by its own row of weights, weights @ v",
                ),
            ),
        ),
    ),
)


def cases(m: Draw, dtypes: list[str], devices: list[str]) -> list[Case]:
    out = []
    plan = [
        # (leading, L, S, d, dv, dtype, mask, T, grad, note)
        ((), 5, 7, 8, 4, "float32", None, 1.0, False, "no mask, L != S"),
        ((2,), 4, 6, 8, 3, "float64", "random", 1.0, True, "random mask"),
        ((2, 3), 5, 5, 8, 8, "float32", "causal", 1.0, True, "causal mask"),
        ((2,), 4, 5, 8, 3, "float32", "full_row", 1.0, False, "query 2 may see no key"),
        ((2,), 6, 6, 8, 4, "float16", "causal", 1.0, False, "causal mask"),
        ((2,), 6, 6, 16, 4, "bfloat16", "causal", 1.0, False, "causal mask"),
        ((3,), 4, 6, 8, 5, "float64", "random", 0.5, False, "temperature 0.5"),
        ((2,), 1, 6, 64, 4, "float32", None, 1.0, False, "L = 1, d = 64"),
    ]
    for n, (lead, L, S, d, dv, dt, mk, T, grad, note) in enumerate(plan):
        if dt not in dtypes:
            continue
        q, k, v = m.randn(*lead, L, d, dtype=dt), m.randn(*lead, S, d, dtype=dt), m.randn(*lead, S, dv, dtype=dt)
        out.append(_case(m, f"v{n}", q, k, v, _mask(m, mk, L, S), T, dt, grad, note))
    # Probe: with V = I the output is the weights themselves.
    L = S = 5
    q, k = m.randn(2, L, 8), m.randn(2, S, 8)
    eye = torch.eye(S).expand(2, S, S).contiguous()
    note = "probe: V = I, so the output shows the weights"
    out.append(_case(m, "v_identity", q, k, eye, ref.causal_mask(L), 1.0, "float32", False, note, probe="V=I"))
    if "cuda" in devices:
        q, k, v = m.randn(2, 4, 8), m.randn(2, 6, 8), m.randn(2, 6, 3)
        out.append(_case(m, "cuda", q, k, v, m.mask(4, 6), 1.0, "float32", False, "on cuda", device="cuda"))
    shapes = [([2, 4, 8], "float32"), ([2, 6, 8], "float32"), ([2, 6, 3], "float32"), ([4, 6], "bool")]
    on_meta = {"kind": "meta_device", "args": [{"shape": shape, "dtype": dt} for shape, dt in shapes]}
    label = "q, k, v and mask on a device other than the CPU"
    out.append(Case(SPEC.id, "meta", label, "meta_device", on_meta, expected=["meta", "meta"]))
    return out


def _mask(m: Draw, kind: str | None, L: int, S: int) -> torch.Tensor | None:
    """No mask, the causal one, or a random one (with query 2 seeing nothing, for "full_row")."""
    if kind is None:
        return None
    if kind == "causal":
        return ref.causal_mask(L)
    return m.mask(L, S, 2 if kind == "full_row" else None)


def _case(m, cid, q, k, v, mask, T, dt, grad, note, probe="", device="cpu") -> Case:
    tensors = {"q": q, "k": k, "v": v}
    args = [{"t": "q", "grad": grad}, {"t": "k", "grad": grad}, {"t": "v", "grad": grad}]
    if mask is not None:
        tensors["mask"] = mask
        args.append({"t": "mask"})
    else:
        args.append({"v": None})
    args.append({"v": T})
    spec = {"kind": "call", "args": args, "record_callees": True}
    q64, k64, v64 = f64(q), f64(k), f64(v)

    def recompute(**callees):
        return list(rebound(ref.attention, callees)(q64, k64, v64, mask, T))

    exp = recompute()
    shape = f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)} {dt}"
    case = Case(
        SPEC.id,
        cid,
        shape + (f" ({note})" if note else ""),
        "call",
        spec,
        tensors,
        dt,
        device,
        exp,
        recompute=recompute,
        probe=probe,
        extra={"mask": mask, "T": T},
    )
    if grad:
        ups = [m.randn(*e.shape, dtype="float64") for e in exp]
        case.tensors.update(up0=ups[0], up1=ups[1])
        spec["grad"] = {"upstream": ["up0", "up1"], "args": [0, 1, 2]}
        g = grads_of(lambda a, b, c: ref.attention(a, b, c, mask, T), [q64, k64, v64], ups)
        case.expected_grads = {f"arg.{i}": gi for i, gi in enumerate(g)}
    return case


def mistake_models(case: Case) -> list[str]:
    if case.kind == "call" and case.extra.get("mask") is not None:
        return ["mask_after_softmax", "mask_fill_zero", "mask_polarity"]
    return []


def mistake_model(case: Case, slip: str, arg: str) -> torch.Tensor:
    """The weights (..., L, S) of attention with the mask applied wrongly."""
    scores = ref.qk_scores(case.tensors["q"].double(), case.tensors["k"].double())
    mask, T = case.extra["mask"], case.extra["T"]
    if slip == "mask_after_softmax":
        return ref.softmax_with_temperature(scores, T, -1) * mask
    if slip == "mask_fill_zero":
        return ref.softmax_with_temperature(scores.masked_fill(~mask, 0.0), T, -1)
    return ref.softmax_with_temperature(scores.masked_fill(mask, float("-inf")), T, -1)  # mask_polarity


def knob_fits(name: str, value: str, case: Case) -> bool:
    if name == "blend":  # "scores": the output mixes v by the raw scores
        if not {"q", "k", "v"} <= set(case.tensors):
            return False
        queries, keys = (case.tensors[arg].shape[-2] for arg in "qk")
        return value != "weights^T" or queries == keys  # weights^T @ v needs as many queries as keys
    a, _, b = value.partition("=")  # "v=k": k stands in for v where it has as many rows
    return {a, b} <= set(case.tensors) and case.tensors[a].shape[-2] == case.tensors[b].shape[-2]


def knob_model(name: str, value: str, case: Case) -> torch.Tensor:
    t = {k: v.to(torch.float64) for k, v in case.tensors.items() if v.is_floating_point()}
    if name == "blend" and value == "weights^T":  # the weights transposed, @ v
        weights = ref.attention(t["q"], t["k"], t["v"], case.extra["mask"], case.extra["T"])[1]
        return weights.transpose(-2, -1) @ t["v"]
    if name == "blend":  # "scores": scores (hidden keys at -inf) @ v, no softmax
        scores = ref.qk_scores(t["q"], t["k"])
        mask = case.extra.get("mask")
        if mask is not None:
            scores = scores.masked_fill(mask.logical_not().to(scores.device), float("-inf"))
        return scores @ t["v"]
    a, _, b = value.partition("=")  # args: "v=k" blends the keys
    given = {"q": t["q"], "k": t["k"], "v": t["v"]}
    given[a] = given[b]
    return ref.attention(given["q"], given["k"], given["v"], case.extra["mask"], case.extra["T"])[0]


TASK = Task(
    SPEC,
    reference=ref.attention,
    cases=cases,
    mistake_models=mistake_models,
    mistake_model=mistake_model,
    knob_model=knob_model,
    knob_fits=knob_fits,
)
