"""The kv_cache_attention task, whole: its contract, reference, cases, mistake models and knobs. Never shipped to
students.

Lesson 5: a KV cache, which keeps the keys and values of the tokens seen so far, so that each new token costs one
row of attention, not the quadratic whole. Fed a sequence a few tokens per call ("steps"), its joined outputs must
be one causal pass. Its forward calls the student's attention and causal_mask, which the callee replay stands in
for. Its diagnosis rules are public (``attnlab.judging.diagnose``). May import the contract, the reference, the
answers zone's helpers and the grading side's Case.
"""

from __future__ import annotations

import math

import torch

from ... import reference as ref
from ...judging.case import Case, call_spans
from ...tasks import Task, TaskSpec
from ..cases import Draw, f64, module_grads, stepped
from ..knobs import params_fit, projection_knobs, with_params
from ..replay import rebound

SPEC = TaskSpec(
    "kv_cache_attention",
    "KVCacheAttention",
    args=("x_new",),
    outputs=("output", "weights"),
    callees=("attention", "causal_mask", "qk_scores", "softmax_with_temperature"),
    replayed=("attention", "causal_mask"),
    computes=("matmul", "exp"),
    todo="project the new tokens, append their keys and values to the cache, and attend the new queries over every "
    "cached key with the causal mask's last n rows",
    lesson="lesson5_order_and_memory",
    axes=(("batch item", "token", "feature"), ("batch item", "query", "key")),
    distributions=("weights",),
    knobs=(*projection_knobs("x_new"),),
)

PARAMS = ["W_q.weight", "W_k.weight", "W_v.weight", "W_q.bias", "W_k.bias", "W_v.bias"]


def cases(m: Draw, dtypes: list[str], devices: list[str]) -> list[Case]:
    """KVCacheAttention fed a sequence a few tokens per call ("steps"): the joined outputs must be one causal pass."""
    out = []
    plan = [
        # (B, d_model, bias, steps, dtype, grad, note)
        (2, 8, True, [3, 1, 1, 1], "float32", False, "a prompt of 3 tokens, then one at a time"),
        (1, 8, True, [1, 1, 1, 1, 1], "float64", True, "one token at a time"),
        (2, 12, False, [2, 2, 3], "float64", False, "calls of 2, 2 and 3 tokens, bias = False"),
        (2, 16, True, [5], "float32", False, "the whole sequence in one call"),
        (2, 8, True, [4, 1, 1], "float16", False, "a prompt of 4, then one at a time"),
        (2, 16, True, [4, 1, 1], "bfloat16", False, "a prompt of 4, then one at a time"),
    ]
    for n, (B, dm, bias, steps, dt, grad, note) in enumerate(plan):
        if dt in dtypes:
            out.append(_case(m, f"v{n}", B, dm, bias, steps, dt, grad, note))
    if "cuda" in devices:
        out.append(_case(m, "cuda", 2, 8, True, [3, 1, 1], "float32", False, "on cuda", device="cuda"))
    on_meta = {"kind": "meta_device", "module": True, "init": [8], "args": [{"shape": [2, 5, 8], "dtype": "float32"}]}
    label = "a prompt of 5 tokens on a device other than the CPU"
    out.append(Case(SPEC.id, "meta", label, "meta_device", on_meta, expected=["meta", "meta"]))
    return out


def _case(m, cid, B, dm, bias, steps, dt, grad, note, device="cpu") -> Case:
    state = m.linears(PARAMS, dm, dt, bias)
    T = sum(steps)
    x = m.randn(B, T, dm, dtype=dt)
    tensors = {"x": x, **{f"p.{k}": v for k, v in state.items()}}
    spec = {
        "kind": "module",
        "init": [dm, bias],
        "state": {k: f"p.{k}" for k in state},
        "dtype": dt,
        "args": [{"t": "x", "grad": grad}],
        "steps": steps,
        "record_callees": True,
    }
    x64 = f64(x)

    def fresh() -> ref.KVCacheAttention:
        mod = ref.KVCacheAttention(dm, bias=bias).to(torch.float64)
        with torch.no_grad():
            for k, v in state.items():
                mod.get_parameter(k).copy_(f64(v))
        return mod

    def recompute(**callees):
        with torch.no_grad():
            return stepped(fresh(), rebound(ref.KVCacheAttention.forward, callees), x64, steps)

    exp = recompute()
    label = f"B={B}, {T} tokens, d_model={dm} {dt} ({note})"
    extra = {"d_model": dm, "steps": steps, "tokens": T, "state": state, "x": x}
    case = Case(SPEC.id, cid, label, "module", spec, tensors, dt, device, exp, recompute=recompute, extra=extra)
    if grad:
        mod = fresh()
        module_grads(m, case, mod, lambda leaf: stepped(mod, ref.KVCacheAttention.forward, leaf, steps))
    return case


def mistake_models(case: Case) -> list[str]:
    if case.kind != "module":
        return []
    steps = case.extra["steps"]
    before = ["cache_attend_before_append"] if len(steps) > 1 else []
    return before + (["cache_sees_future"] if max(steps) > 1 else [])


def mistake_model(case: Case, slip: str, arg: str) -> torch.Tensor:
    """The joined weights (B, T, T) of a KV cache that attends before it appends the new keys (so a call sees
    only the tokens of earlier calls), or that leaves out the mask within a call (so it sees its call's future)."""
    st = {k: v.double() for k, v in case.extra["state"].items()}
    x = case.extra["x"].double()
    T = x.shape[1]

    def lin(name, t):
        return torch.nn.functional.linear(t, st[f"{name}.weight"], st.get(f"{name}.bias"))

    q, k = lin("W_q", x), lin("W_k", x)  # (B, T, d_model)
    first, last = call_spans(case.extra["steps"])  # (T,): where each token's call starts, and where it ends
    key = torch.arange(T).unsqueeze(0)  # (1, T)
    if slip == "cache_sees_future":
        visible = key < last.unsqueeze(1)  # (T, T): everything up to the end of the token's own call
    else:  # cache_attend_before_append: the earlier calls' tokens; the first call, with an empty cache, its own past
        visible = (key < first.unsqueeze(1)) | ((first.unsqueeze(1) == 0) & (key <= torch.arange(T).unsqueeze(1)))
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, T, T)
    return ref.softmax_with_temperature(scores.masked_fill(~visible, float("-inf")))


def knob_fits(name: str, value: str, case: Case) -> bool:
    return params_fit(name, value, case)


def knob_model(name: str, value: str, case: Case) -> torch.Tensor:
    """linear: every projection x @ W.weight; params: one projection's parameters standing in for another's."""
    if name == "linear":
        return with_params(case, "", _run, untransposed=True)[SPEC.knob(name).output]
    return with_params(case, value, _run)[SPEC.knob(name).output]


def _run(case: Case, state: dict, x: torch.Tensor) -> list[torch.Tensor]:
    """The reference cache's joined outputs on `x`, fed `steps` at a time, with its parameters set to `state`."""
    bias = any(k.endswith(".bias") for k in state)
    mod = ref.KVCacheAttention(case.extra["d_model"], bias=bias).to(torch.float64)
    with torch.no_grad():
        for k, v in state.items():
            mod.get_parameter(k).copy_(v)
        return stepped(mod, ref.KVCacheAttention.forward, x, case.extra["steps"])


TASK = Task(
    SPEC,
    reference=ref.KVCacheAttention,
    cases=cases,
    mistake_models=mistake_models,
    mistake_model=mistake_model,
    knob_model=knob_model,
    knob_fits=knob_fits,
)
