"""The reference with one of its knobs turned: how each `attnlab.tasks.Knob` is run. Never shipped to students.

A task's spec declares its knobs and the words for each value (public: they go into hints). Here is how the
reference computes its output with the knob at that value: "knob:diagonal=1" is causal_mask with
torch.tril(..., diagonal=1). The describer (``attnlab.grading.describe``) compares a student's output with
these through the same seam as the mistake models (``diagnose.model_output``), and the student build
precomputes them on the public cases as it does the mistake models, so `applicable` must list exactly what
`build` can compute.

May import the reference and the grading side's Case; nothing that runs student code.
"""

from __future__ import annotations

import math

import torch

from .. import reference as ref
from ..grading.cases import Case
from ..tasks import TASKS

#: A course's own tasks' knob models (``attnlab.task_api.Task.knob_model``): task id -> f(name, value, case).
COURSE_KNOBS: dict[str, object] = {}


def applicable(case: Case) -> list[str]:
    """The knob models ("knob:NAME=VALUE") that the describer may compare a student's output on `case` with."""
    if case.kind not in ("call", "module"):
        return []
    out = []
    for knob in TASKS[case.task].knobs:
        for value, _ in knob.choices:
            if case.task in COURSE_KNOBS or _fits(case, knob.name, value):
                out.append(f"knob:{knob.name}={value}")
    return out


def _fits(case: Case, name: str, value: str) -> bool:
    if case.task == "qk_scores":
        return "q" in case.tensors and "k" in case.tensors
    if case.task == "causal_mask":
        return case.extra.get("n", 0) > int(value)  # on a shorter mask the knob changes nothing
    if case.task == "attention" and name == "blend":  # "scores": the output mixes v by the raw scores
        if not {"q", "k", "v"} <= set(case.tensors):
            return False
        queries, keys = (case.tensors[arg].shape[-2] for arg in "qk")
        return value != "weights^T" or queries == keys  # weights^T @ v needs as many queries as keys
    if case.task == "attention":  # "v=k": k stands in for v where it has as many rows
        a, _, b = value.partition("=")
        return {a, b} <= set(case.tensors) and case.tensors[a].shape[-2] == case.tensors[b].shape[-2]
    if name == "linear":  # x @ W.weight: the module's projections, with weights to transpose
        return bool(case.extra.get("state"))
    if name.startswith("params"):  # a projection used in place of another: both must be there and differ
        a, _, b = value.partition("=")
        st = case.extra.get("state", {})
        if b == "I":  # the projection left out: square, so that its input can stand in for its output
            w = st.get(f"{a}.weight")
            return w is not None and w.dim() == 2 and w.shape[0] == w.shape[1]
        return f"{a}.weight" in st and f"{b}.weight" in st and not torch.equal(st[f"{a}.weight"], st[f"{b}.weight"])
    if case.task == "multi_head_attention":
        return case.extra.get("H", 1) > 1  # with one head every split is the same
    return False


def build(name: str, case: Case) -> torch.Tensor:
    """The knob model `name` ("knob:diagonal=1") on `case`: the knob's output, float64 (bool for a mask)."""
    knob, _, value = name.removeprefix("knob:").partition("=")
    if case.task in COURSE_KNOBS:  # a course task's own: None where the knob does not fit the case
        model = COURSE_KNOBS[case.task](knob, value, case)
        return None if model is None else model.to(torch.float64)
    t = {k: v.to(torch.float64) for k, v in case.tensors.items() if v.is_floating_point()}
    if case.task == "qk_scores":  # args: "k=q" uses q as both
        a, _, b = value.partition("=")
        given = {"q": t["q"], "k": t["k"]}
        given[a] = given[b]
        return ref.qk_scores(given["q"], given["k"])
    if case.task == "causal_mask":  # diagonal: torch.tril(ones, diagonal=value)
        n = case.extra["n"]
        return torch.ones(n, n, dtype=torch.bool).tril(int(value))
    if case.task == "attention" and knob == "blend" and value == "weights^T":  # the weights transposed, @ v
        weights = ref.attention(t["q"], t["k"], t["v"], case.extra["mask"], case.extra["T"])[1]
        return weights.transpose(-2, -1) @ t["v"]
    if case.task == "attention" and knob == "blend":  # "scores": scores (hidden keys at -inf) @ v, no softmax
        scores = ref.qk_scores(t["q"], t["k"])
        mask = case.extra.get("mask")
        if mask is not None:
            scores = scores.masked_fill(mask.logical_not().to(scores.device), float("-inf"))
        return scores @ t["v"]
    if case.task == "attention":  # args: "v=k" blends the keys
        a, _, b = value.partition("=")
        given = {"q": t["q"], "k": t["k"], "v": t["v"]}
        given[a] = given[b]
        return ref.attention(given["q"], given["k"], given["v"], case.extra["mask"], case.extra["T"])[0]
    if knob == "linear":  # "x@W": every projection x @ W.weight, with no transpose and no bias
        return _with_params(case, "", untransposed=True)[TASKS[case.task].knob(knob).output]
    if knob.startswith("params"):  # "W_k=W_q": the keys projected with W_q
        return _with_params(case, value)[TASKS[case.task].knob(knob).output]
    if case.task == "multi_head_attention":  # heads: "interleaved" splits features (d_head, n_heads)
        return _interleaved_heads(case)[1]
    raise KeyError(name)


def _interleaved_heads(case: Case) -> list[torch.Tensor]:
    """(output, weights) of multi-head attention whose heads take every n_heads-th feature."""
    st = {k: v.double() for k, v in case.extra["state"].items()}
    x = case.extra["x"].double()
    B, L, dm = x.shape
    H = case.extra["H"]
    dh = dm // H

    def lin(name, t):
        return torch.nn.functional.linear(t, st[f"{name}.weight"], st.get(f"{name}.bias"))

    def split(t):  # (B, L, d_model) -> (B, H, L, dh), head h taking features h, h + H, h + 2H, ...
        return t.view(B, L, dh, H).permute(0, 3, 1, 2)

    q, k, v = split(lin("W_q", x)), split(lin("W_k", x)), split(lin("W_v", x))
    scores = q @ k.transpose(-2, -1) / math.sqrt(dh)
    if case.extra["causal"]:
        scores = scores.masked_fill(~ref.causal_mask(L), float("-inf"))
    w = ref.softmax_with_temperature(scores)
    o = (w @ v).permute(0, 2, 3, 1).reshape(B, L, dm)
    return [lin("W_o", o), w]


def _with_params(case: Case, value: str, untransposed: bool = False) -> list[torch.Tensor]:
    """The module task's reference outputs with one projection's parameters standing in for another's ("W_k=W_q"),
    or, `untransposed`, with every projection computing x @ W.weight (what nn.Linear does with W.T and no bias)."""
    from .cases import stepped

    a, _, b = value.partition("=")
    st = {k: v.to(torch.float64) for k, v in case.extra["state"].items()}
    if b == "I":  # "W_v=I": the projection left out, its input passed on as it is
        st[f"{a}.weight"] = torch.eye(st[f"{a}.weight"].shape[0], dtype=torch.float64)
        if f"{a}.bias" in st:
            st[f"{a}.bias"] = torch.zeros_like(st[f"{a}.bias"])
    for part in ("weight", "bias"):
        if b and f"{b}.{part}" in st:
            st[f"{a}.{part}"] = st[f"{b}.{part}"]
    if untransposed:
        st = {k: (v.T.contiguous() if k.endswith(".weight") else torch.zeros_like(v)) for k, v in st.items()}
    x = case.extra["x"].to(torch.float64)
    bias = any(k.endswith(".bias") for k in st)
    if case.task == "multi_head_attention":
        mod = ref.MultiHeadAttention(case.extra["d_model"], case.extra["H"], bias=bias).to(torch.float64)
    else:
        mod = ref.KVCacheAttention(case.extra["d_model"], bias=bias).to(torch.float64)
    with torch.no_grad():
        for k, v in st.items():
            mod.get_parameter(k).copy_(v)
        if case.task == "multi_head_attention":
            return list(mod(x, case.extra["causal"]))
        return stepped(mod, ref.KVCacheAttention.forward, x, case.extra["steps"])
