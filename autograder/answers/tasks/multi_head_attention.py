"""The multi_head_attention task, whole: its contract, reference, cases, mistake models and knobs. Never shipped
to students.

Lesson 4: heads with habits. The module projects x into queries, keys and values, splits them into heads, runs
attention in each and joins them through W_o. Its forward calls the student's attention and causal_mask, which
the callee replay stands in for. Its diagnosis rules are public (``attnlab.judging.diagnose``). May import the
contract, the reference, the answers zone's helpers and the grading side's Case.
"""

from __future__ import annotations

import math

import torch

from ... import reference as ref
from ...judging.case import DT, Case
from ...tasks import Knob, Task, TaskSpec
from ..cases import Draw, f64, module_grads
from ..knobs import params_fit, projection_knobs, with_params
from ..replay import rebound

SPEC = TaskSpec(
    "multi_head_attention",
    "MultiHeadAttention",
    args=("x",),
    outputs=("output", "weights"),
    callees=("attention", "causal_mask", "qk_scores", "softmax_with_temperature"),
    replayed=("attention", "causal_mask"),
    computes=("matmul", "exp"),
    todo="project x with W_q, W_k and W_v, split the heads, run attention in each head, join them and apply W_o",
    lesson="lesson4_multi_head",
    axes=(("batch item", "position", "feature"), ("batch item", "head", "query", "key")),
    distributions=("weights",),
    knobs=(
        Knob(
            "heads",
            (
                (
                    "interleaved",
                    "your heads each take every n_heads-th feature (as view(B, L, d_head, n_heads) splits them): "
                    "head h takes features h * d_head to (h + 1) * d_head - 1, as view(B, L, n_heads, d_head) then "
                    "transpose(1, 2) gives",
                ),
            ),
            output=1,
        ),
        *projection_knobs("x"),
    ),
)

PARAMS = ["W_q.weight", "W_k.weight", "W_v.weight", "W_o.weight", "W_q.bias", "W_k.bias", "W_v.bias", "W_o.bias"]


def cases(m: Draw, dtypes: list[str], devices: list[str]) -> list[Case]:
    out = []
    plan = [
        # (B, L, d_model, H, bias, causal, dtype, grad, probe, note)
        (2, 5, 16, 4, True, False, "float32", False, "", ""),
        (2, 5, 16, 4, True, True, "float32", False, "", "causal"),
        (2, 4, 8, 2, True, True, "float64", True, "", "causal"),
        (2, 6, 12, 3, False, False, "float64", False, "", "bias = False"),
        (2, 5, 8, 1, True, True, "float32", False, "H=1", "probe: one head, so a head-split bug vanishes"),
        (
            2,
            5,
            16,
            4,
            True,
            False,
            "float32",
            False,
            "W_o=I",
            "probe: W_o = I, so a missing output projection vanishes",
        ),  # noqa: E501
        (2, 5, 16, 4, True, True, "float16", False, "", "causal"),
        (2, 5, 16, 4, True, True, "bfloat16", False, "", "causal"),
        (2, 5, 16, 4, True, None, "float32", False, "", "causal not given: its default, False"),
    ]
    for n, (B, L, dm, H, bias, causal, dt, grad, probe, note) in enumerate(plan):
        if dt not in dtypes:
            continue
        out.append(_case(m, f"v{n}", B, L, dm, H, bias, causal, dt, grad, probe, note))
    if "cuda" in devices:
        out.append(_case(m, "cuda", 2, 5, 16, 4, True, True, "float32", False, "", "on cuda", device="cuda"))
    out.append(
        Case(
            SPEC.id,
            "bad_heads",
            "MultiHeadAttention(10, 3): 10 is not divisible by 3",
            "expect_error",
            {"kind": "expect_error", "args": [{"v": 10}, {"v": 3}]},
            expected="ValueError",
            probe="invalid_heads",
        )
    )
    out.append(
        Case(
            SPEC.id,
            "meta",
            "x on a device other than the CPU, causal = True",
            "meta_device",
            {
                "kind": "meta_device",
                "module": True,
                "init": [16, 4],
                "args": [{"shape": [2, 5, 16], "dtype": "float32"}],
                "kwargs": {"causal": {"v": True}},
            },
            expected=["meta", "meta"],
        )
    )
    return out


def _case(m, cid, B, L, dm, H, bias, causal, dt, grad, probe, note, device="cpu") -> Case:
    """forward(x, causal=causal); with causal None, forward(x): the contract's default, False."""
    given = causal is not None
    causal = bool(causal)
    state = m.linears(PARAMS, dm, dt, bias)
    if probe == "W_o=I":
        state["W_o.weight"] = torch.eye(dm, dtype=DT[dt])
        state["W_o.bias"] = torch.zeros(dm, dtype=DT[dt])
    x = m.randn(B, L, dm, dtype=dt)
    tensors = {"x": x, **{f"p.{k}": v for k, v in state.items()}}
    spec = {
        "kind": "module",
        "init": [dm, H, bias],
        "state": {k: f"p.{k}" for k in state},
        "dtype": dt,
        "args": [{"t": "x", "grad": grad}],
        "kwargs": {"causal": {"v": causal}} if given else {},
        "record_callees": True,
    }
    ref_mod = ref.MultiHeadAttention(dm, H, bias=bias).to(torch.float64)
    with torch.no_grad():
        for k, v in state.items():
            ref_mod.get_parameter(k).copy_(f64(v))
    x64 = f64(x)

    def recompute(**callees):
        with torch.no_grad():
            return list(rebound(ref.MultiHeadAttention.forward, callees)(ref_mod, x64, causal))

    exp = recompute()
    label = f"B={B}, L={L}, d_model={dm}, n_heads={H} {dt}" + (f" ({note})" if note else "")
    case = Case(
        SPEC.id,
        cid,
        label,
        "module",
        spec,
        tensors,
        dt,
        device,
        exp,
        recompute=recompute,
        probe=probe,
        extra={"H": H, "d_model": dm, "causal": causal, "state": state, "x": x},
    )
    if grad:
        module_grads(m, case, ref_mod, lambda leaf: ref_mod(leaf, causal))
    return case


def mistake_models(case: Case) -> list[str]:
    if case.kind != "module":
        return []
    names = ["heads_split_without_transpose", "scale_by_d_model"] if case.extra["H"] > 1 else []
    return names + (["missing_output_projection"] if case.probe != "W_o=I" else [])


def mistake_model(case: Case, slip: str, arg: str) -> torch.Tensor:
    """The output (B, L, d_model) of the reference multi-head attention with the slip put back in."""
    split_without_transpose = slip == "heads_split_without_transpose"
    skip_out = slip == "missing_output_projection"
    st = {k: v.double() for k, v in case.extra["state"].items()}
    x = case.extra["x"].double()
    B, L, dm = x.shape
    H = case.extra["H"]
    dh = dm // H
    scale_dim = dm if slip == "scale_by_d_model" else dh

    def lin(name, t):
        b = st.get(f"{name}.bias")
        return torch.nn.functional.linear(t, st[f"{name}.weight"], b)

    def split(t):  # (B, L, d_model) -> (B, H, L, dh)
        return t.reshape(B, H, L, dh) if split_without_transpose else t.view(B, L, H, dh).transpose(1, 2)

    q, k, v = split(lin("W_q", x)), split(lin("W_k", x)), split(lin("W_v", x))
    scores = q @ k.transpose(-2, -1) / math.sqrt(scale_dim)  # (B, H, L, L)
    if case.extra["causal"]:
        scores = scores.masked_fill(~ref.causal_mask(L), float("-inf"))
    w = ref.softmax_with_temperature(scores)
    o = w @ v  # (B, H, L, dh)
    o = o.reshape(B, L, dm) if split_without_transpose else o.transpose(1, 2).reshape(B, L, dm)
    return o if skip_out else lin("W_o", o)


def knob_fits(name: str, value: str, case: Case) -> bool:
    if name == "linear" or name.startswith("params"):
        return params_fit(name, value, case)
    return case.extra.get("H", 1) > 1  # heads: with one head every split is the same


def knob_model(name: str, value: str, case: Case) -> torch.Tensor:
    if name == "linear":  # "x@W": every projection x @ W.weight, with no transpose and no bias
        return with_params(case, "", _run, untransposed=True)[SPEC.knob(name).output]
    if name.startswith("params"):  # "W_k=W_q": the keys projected with W_q
        return with_params(case, value, _run)[SPEC.knob(name).output]
    return _interleaved_heads(case)[1]  # heads: "interleaved" splits features (d_head, n_heads)


def _run(case: Case, state: dict, x: torch.Tensor) -> list[torch.Tensor]:
    """The reference module's outputs on `x` with its parameters set to `state`."""
    bias = any(k.endswith(".bias") for k in state)
    mod = ref.MultiHeadAttention(case.extra["d_model"], case.extra["H"], bias=bias).to(torch.float64)
    with torch.no_grad():
        for k, v in state.items():
            mod.get_parameter(k).copy_(v)
        return list(mod(x, case.extra["causal"]))


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


TASK = Task(
    SPEC,
    reference=ref.MultiHeadAttention,
    cases=cases,
    mistake_models=mistake_models,
    mistake_model=mistake_model,
    knob_model=knob_model,
    knob_fits=knob_fits,
)
