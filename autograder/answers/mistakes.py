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
from collections.abc import Callable

import torch

from .. import reference as ref
from ..grading.cases import Case


def applicable(case: Case) -> list[str]:
    """The mistake models that ``diagnose.RULES`` may compare a student's output on `case` with."""
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
    return []


def mistake(name: str, case: Case) -> torch.Tensor:
    """What the slip `name` gives on `case`: float64 values, or a bool mask for causal_mask."""
    if name not in applicable(case):
        raise KeyError(
            f"no mistake model {name!r} for {case.task} case {case.id}: list it in mistakes.applicable, "
            "or the student build will not have it"
        )
    slip, _, arg = name.partition(":")
    return _SLIPS[slip](case, slip, arg)


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
}
