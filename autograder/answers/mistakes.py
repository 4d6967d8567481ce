"""The mistake models: the reference rebuilt with one slip put back in. Never shipped to students.

A mistake model is named by the catalogue id it stands for, with an argument after a colon where the
slip comes in variants ("wrong_dim:0", the softmax along dim 0; "mask_inverted:with_diagonal").
`applicable(case)` lists every model the diagnosis rules may ask about on a case: the student build
precomputes exactly these, and `mistake` refuses any other, so that a rule cannot come to depend on
a model the student build lacks. Rules ask for a model's output through
``attnlab.grading.diagnose.model_output``.

Remove a mistake model's slip and you have the answer, so this module is as secret as the reference.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable

import torch

from .. import reference as ref
from ..grading.cases import Case, call_spans
from ..reference.attention import sinusoids
from . import knobs

#: A course's own tasks' named slips (``attnlab.task_api.Slip``), by task id and slip id: their models are named
#: "<slip id>:<output index>".
COURSE_SLIPS: dict[str, dict] = {}


def applicable(case: Case) -> list[str]:
    """The mistake models that ``diagnose.RULES`` may compare a student's output on `case` with, and the knob
    models (``attnlab.answers.knobs``) that the describer may."""
    if case.task in COURSE_SLIPS:
        outputs = len(case.expected) if isinstance(case.expected, list) else 0
        named = [f"{sid}:{i}" for sid in COURSE_SLIPS[case.task] for i in range(outputs)]
        return (named if case.kind in ("call", "module") else []) + knobs.applicable(case)
    return _applicable(case) + knobs.applicable(case)


def _applicable(case: Case) -> list[str]:
    if case.task == "softmax_with_temperature" and case.kind == "call" and case.probe != "full_row":
        T, dim, n = case.extra["T"], case.extra["dim"], case.tensors["x"].dim()
        names = ["temperature_inverted", "temperature_ignored"] if T != 1.0 and T > 0 else []
        return names + [f"wrong_dim:{other}" for other in range(n) if other != dim % n]
    if case.task == "causal_mask" and case.kind == "call" and case.extra.get("n", 0) > 1:
        return ["mask_inverted", "mask_inverted:with_diagonal", "mask_diagonal_excluded"]
    if case.task == "attention" and case.kind == "call" and case.extra.get("mask") is not None:
        return ["mask_after_softmax", "mask_fill_zero", "mask_polarity"]
    if case.task == "multi_head_attention" and case.kind == "module":
        names = ["heads_split_without_transpose", "scale_by_d_model"] if case.extra["H"] > 1 else []
        return names + (["missing_output_projection"] if case.probe != "W_o=I" else [])
    if case.task == "positional_encoding" and case.kind == "call" and case.extra["d_model"] >= 4:
        return ["pe_sin_cos_swapped"] + [f"pe_wrong_base:{base}" for base in PE_WRONG_BASES]
    if case.task == "kv_cache_attention" and case.kind == "module":
        steps = case.extra["steps"]
        return (["cache_attend_before_append"] if len(steps) > 1 else []) + (
            ["cache_sees_future"] if max(steps) > 1 else []
        )
    return []


#: The bases a positional encoding's frequencies are compared with: 100 is 10000^(i / d_model), the 2 of 2i
#: dropped; 10 and 1000 are a digit too few; 100000 one too many.
PE_WRONG_BASES = (10, 100, 1000, 100000)


def mistake(name: str, case: Case, callees: dict | None = None) -> torch.Tensor:
    """What the slip `name` gives on `case`: float64 values, or a bool mask for causal_mask. With `callees`
    (name -> function), the slip calls those in place of the reference's own (a callee replay's: the grader's
    stand-ins for an earlier lesson's functions), on a copy: the reference is never patched."""
    if name not in applicable(case):
        raise KeyError(
            f"no mistake model {name!r} for {case.task} case {case.id}: list it in mistakes.applicable, "
            "or the student build will not have it"
        )
    if name.startswith("knob:"):
        return knobs.build(name, case)
    if case.task in COURSE_SLIPS:  # "<slip id>:<output>": the instructor's model, its output of that index
        sid, _, i = name.rpartition(":")
        outs = COURSE_SLIPS[case.task][sid].model(case)
        return None if outs is None else outs[int(i)].to(torch.float64)
    slip, _, arg = name.partition(":")
    build = _SLIPS[slip]
    if callees:
        reference = types.SimpleNamespace(**{n: getattr(ref, n) for n in dir(ref) if not n.startswith("__")})
        vars(reference).update(callees)
        build = types.FunctionType(build.__code__, {**build.__globals__, "ref": reference}, build.__name__)
    return build(case, slip, arg)


def _softmax_slip(case: Case, slip: str, arg: str) -> torch.Tensor:
    x = case.tensors["x"].to(torch.float64)
    T, dim = case.extra["T"], case.extra["dim"]
    if slip == "temperature_inverted":
        return ref.softmax_with_temperature(x, 1.0 / T, dim)  # softmax(scores * T)
    if slip == "temperature_ignored":
        return ref.softmax_with_temperature(x, 1.0, dim)
    return ref.softmax_with_temperature(x, T, int(arg))  # wrong_dim: along another dim


def _mask_slip(case: Case, slip: str, arg: str) -> torch.Tensor:
    n = case.extra["n"]
    query, key = torch.arange(n).unsqueeze(1), torch.arange(n).unsqueeze(0)  # (n, 1), (1, n)
    if slip == "mask_inverted":
        return key >= query if arg == "with_diagonal" else key > query  # the future (and the token itself)
    return key < query  # mask_diagonal_excluded: the past without the token itself


def _attention_slip(case: Case, slip: str, arg: str) -> torch.Tensor:
    """The weights (..., L, S) of attention with the mask applied wrongly."""
    scores = ref.qk_scores(case.tensors["q"].double(), case.tensors["k"].double())
    mask, T = case.extra["mask"], case.extra["T"]
    if slip == "mask_after_softmax":
        return ref.softmax_with_temperature(scores, T, -1) * mask
    if slip == "mask_fill_zero":
        return ref.softmax_with_temperature(scores.masked_fill(~mask, 0.0), T, -1)
    return ref.softmax_with_temperature(scores.masked_fill(mask, float("-inf")), T, -1)  # mask_polarity


def _mha_slip(case: Case, slip: str, arg: str) -> torch.Tensor:
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


def _pe_slip(case: Case, slip: str, arg: str) -> torch.Tensor:
    """The encoding (seq_len, d_model) with cos in the even columns and sin in the odd ones, or another base."""
    L, d = case.extra["seq_len"], case.extra["d_model"]
    if slip == "pe_wrong_base":
        return sinusoids(L, d, base=float(arg))
    return sinusoids(L, d).view(L, d // 2, 2).flip(-1).reshape(L, d)  # pe_sin_cos_swapped: (cos, sin) pairs


def _cache_slip(case: Case, slip: str, arg: str) -> torch.Tensor:
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


#: catalogue id -> the function that rebuilds the slip: f(case, id, argument).
_SLIPS: dict[str, Callable[[Case, str, str], torch.Tensor]] = {
    "temperature_inverted": _softmax_slip,
    "temperature_ignored": _softmax_slip,
    "wrong_dim": _softmax_slip,
    "mask_inverted": _mask_slip,
    "mask_diagonal_excluded": _mask_slip,
    "mask_after_softmax": _attention_slip,
    "mask_fill_zero": _attention_slip,
    "mask_polarity": _attention_slip,
    "heads_split_without_transpose": _mha_slip,
    "missing_output_projection": _mha_slip,
    "scale_by_d_model": _mha_slip,
    "pe_sin_cos_swapped": _pe_slip,
    "pe_wrong_base": _pe_slip,
    "cache_attend_before_append": _cache_slip,
    "cache_sees_future": _cache_slip,
}
