"""The diagnosis catalogue: every mistake the grader can name, and the rules that name it.

Each id has a message template, written for a student who has read the lesson and nothing more, and a
few words that name the mistake where the message does not fit (`TITLES`: a picture's title). Rules
look at what the student's function returned on the cases (``judge.CaseResult``) and test it against
properties and probes: rows sum to 1, a shift changes nothing, ``scores(e1, e1) = 1/sqrt(d)``, with V = I
the output shows the weights, with one head a head-split bug vanishes, with W_o = I a missing output
projection vanishes. Where a property points at a specific slip, the rule compares the student's
numbers with that slip rebuilt from the same inputs (a *mistake model*) before naming it.

Two kinds of evidence come before the rules. An output that is a placeholder (zeros, one value
everywhere, a mask all True or all False, an input returned unchanged) is named ``constant_output``,
and the rules do not read that case: zeros are not a scale of 0. An exception can be a slip's symptom
too: ``ERROR_RULES`` rebuild the slip (``q @ k.T`` on batched inputs) and name it where it raises the
very same error.

The mistake models live in ``attnlab.answers``, next to the answers they are one slip away from. Rules
reach them through one seam, `model_output`, which computes them in the full install and reads them
from the case's data in the student build; either way the rules, and so the diagnoses, are the same.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import torch

from ..tasks import TASKS
from .cases import answers

# id -> (task or "*", message template). Templates are filled with str.format(**details).
CATALOGUE: dict[str, tuple[str, str]] = {
    # qk_scores
    "missing_scale": (
        "qk_scores",
        "your scores are {ratio:.1f}x the expected ones everywhere, and {ratio:.1f} = sqrt({d}): did you forget to "
        "divide by sqrt(d)?",
    ),
    "wrong_scale": (
        "qk_scores",
        "your scores are {ratio:.3g}x the expected ones everywhere: divide q @ k^T by sqrt(d), the square root of "
        "the last dimension{also}.",
    ),
    "wrong_transpose": ("qk_scores", "{what}: use q @ k.transpose(-2, -1){why}."),
    # softmax_with_temperature
    "wrong_dim": (
        "softmax_with_temperature",
        "your weights sum to 1 along dim {their_dim}, not along dim {dim} as asked: pass `dim` through to your max "
        "and sum.",
    ),
    "temperature_inverted": (
        "softmax_with_temperature",
        "with temperature {T:g} your weights match softmax(scores * T): divide by the temperature instead, so a "
        "small T makes the weights sharp.",
    ),
    "temperature_ignored": (
        "softmax_with_temperature",
        "with temperature {T:g} your weights equal the T = 1 weights: divide the scores by the temperature before "
        "the softmax.",
    ),
    "unstable_softmax": (
        "softmax_with_temperature",
        "your softmax gives {bad} on {where}: exp overflows for large scores. Subtract each row's maximum before "
        "exp; it changes nothing else.",
    ),
    "accepts_invalid_temperature": (
        "softmax_with_temperature",
        "temperature = {T} was accepted: raise ValueError unless the temperature is a finite number greater than 0.",
    ),
    "fully_masked_row_nan": (
        "softmax_with_temperature",
        "a row that is entirely -inf gave NaN: such a row has nothing to attend to and must come out as all zeros "
        "(the max is -inf there, and -inf - -inf is NaN).",
    ),
    # causal_mask
    "mask_inverted": (
        "causal_mask",
        "your mask is True where a query looks at the future (j > i): it must be True where j <= i, the past and "
        "the token itself.",
    ),
    "mask_diagonal_excluded": (
        "causal_mask",
        "your mask hides each token from itself: position i must also see position i (j <= i, not j < i).",
    ),
    "accepts_invalid_length": (
        "causal_mask",
        "causal_mask({n}) returned a mask: raise ValueError when seq_len is less than 1.",
    ),
    # attention
    "mask_after_softmax": (
        "attention",
        "your weights match softmax(scores) * mask: a row then sums to {sum:.2f}, not 1. Fill the hidden scores "
        "with -inf before the softmax.",
    ),
    "mask_fill_zero": (
        "attention",
        "your weights match a softmax where hidden scores were set to 0: a score of 0 still gets weight. Fill them "
        "with -inf instead.",
    ),
    "mask_polarity": (
        "attention",
        "your weights match the mask read backwards: True means 'may attend', so hide the keys where the mask is "
        "False (masked_fill(~mask, -inf)).",
    ),
    "no_gradient": (
        "attention",
        "no gradient reaches {what}: avoid torch.no_grad(), .detach(), .item(), .numpy() and new tensors built from "
        "values in the forward pass.",
    ),
    # multi_head_attention
    "heads_split_without_transpose": (
        "multi_head_attention",
        "with one head you are right, with {H} heads not, and your numbers match x.view(B, H, L, d_head): view as "
        "(B, L, H, d_head), then transpose(1, 2), and undo both at the end.",
    ),
    "missing_output_projection": (
        "multi_head_attention",
        "with W_o = I you are right, otherwise not, and your output is the concatenated heads: apply self.W_o to "
        "them at the end.",
    ),
    "scale_by_d_model": (
        "multi_head_attention",
        "your scores are scaled by 1/sqrt(d_model) = 1/sqrt({d_model}): each head scales by 1/sqrt(d_head) = "
        "1/sqrt({d_head}).",
    ),
    "weights_averaged": (
        "multi_head_attention",
        "your weights have shape {got}, the average over heads: return every head's weights, shape (B, n_heads, L, L).",
    ),
    # plot_attention
    "plot_wrong_data": ("plot_attention", "{detail}"),
    "plot_missing_labels": ("plot_attention", "{detail}"),
    "plot_missing_colorbar": ("plot_attention", "{detail}"),
    # positional_encoding
    "pe_sin_cos_swapped": (
        "positional_encoding",
        "your encoding has cos in the even columns and sin in the odd ones: column 2i holds sin(pos / "
        "10000^(2i / d_model)) and column 2i + 1 the cos of the same angle, so position 0 reads 0, 1, 0, 1, ...",
    ),
    "pe_wrong_base": (
        "positional_encoding",
        "your frequencies fall off as if their base were {base:g}, not 10000{why}: the angle in columns 2i and 2i + 1 "
        "is pos / 10000^(2i / d_model).",
    ),
    "pe_transposed": (
        "positional_encoding",
        "your encoding has shape {got}, one column per position: return one row per position, shape (seq_len, "
        "d_model) = {want}, so that it can be added to the token vectors x (seq_len, d_model).",
    ),
    # kv_cache_attention
    "cache_attend_before_append": (
        "kv_cache_attention",
        "after the first call, each new token sees only the tokens of earlier calls, not itself: append the new "
        "keys and values to the cache first, then attend over all of it.",
    ),
    "cache_sees_future": (
        "kv_cache_attention",
        "when a call brings several tokens (a prompt), each of them also sees the ones after it: mask the new "
        "queries with the last n rows of causal_mask(t), for t tokens seen and n new ones.",
    ),
    "cache_recomputes": (
        "kv_cache_attention",
        "on {case}, your {layers} projected {rows} tokens for a sequence of {tokens}: the keys and values of earlier "
        "tokens were computed again at every call. Keep them in self.k_cache and self.v_cache, and project only "
        "x_new.",
    ),
    # any task
    "wrong_shape": ("*", "on {case}, output {which} has shape {got}, expected {want}."),
    "wrong_dtype": (
        "*",
        "on {case}, output {which} is {got}, expected {want}: {fix}.",
    ),
    "wrong_device": (
        "*",
        "on {case}, {detail}: make new tensors with device=... (for example torch.arange(n, device=device) or "
        "device=x.device).",
    ),
    "mutates_input": (
        "*",
        "on {case}, your function changed its input {which} in place: use out-of-place operations (x / t, not "
        "x.div_(t) or x /= t).",
    ),
    "non_tensor_output": ("*", "on {case}, you returned {got} where {want} was expected."),
    "nan_output": ("*", "on {case}, your output has NaN or inf where the expected values are finite{where}."),
    "forbidden_call": (
        "*",
        "you used {name}{line}, which this task forbids: build it from exp, sum, max and matmul yourself.",
    ),
    "detector_tampered": (
        "*",
        "on {case} your values are right, but the grader could not watch how your code computed them ({what}). "
        "Compute them with torch operations on the tensors you are given, and do not switch off, replace or reach "
        "into the grader's checks.",
    ),
    "shared_state": (
        "*",
        "your {function} keeps {names} on the class, where every instance shares {it}: {they} grew as your module ran "
        "and {hold} tensors, so each new module starts with what earlier ones left there (your first case passes, "
        "later ones do not). Make {it} in __init__ instead (self.{first} = ...), so that each module has its own.",
    ),
    "not_implemented": ("*", "{function} still raises NotImplementedError: this is where you start."),
    "exception": ("*", "on {case}, your code raised {error}{where}."),
    "timeout": ("*", "your code did not finish {where} within {seconds:g} s: look for an endless loop."),
    "wrong_values": ("*", "on {case}, {detail}."),
    "crashed": (
        "*",
        "your code ended the Python process{where} (sys.exit, os._exit or a crash). Nothing after that point could "
        "be checked.",
    ),
    "missing": ("*", "no {function} was found in your submission{load}."),
    "callee_failed": (
        "*",
        "{task} would be right with a correct {callee}: fix {callee} first. No points are taken here for it.",
    ),
    "blocked_by_callee": (
        "*",
        "{task} could not be checked on {n} case(s) because your {callee} {what} there: fix {callee} first.",
    ),
    "gradient_mismatch": (
        "*",
        "on {case}, the gradient of {what} is off by up to {err:.3g}, though the forward values are right{hint}.",
    ),
    "constant_output": ("*", "on {case}, your {function} {what}, but {expected}: {todo}."),
    # the describer (attnlab.grading.describe): how a wrong output relates to the expected one
    "knob": ("*", "{words}."),
    "outputs_swapped": ("*", "your outputs come in another order: you returned ({got}), where ({want}) is asked for."),
    "extra_dims": ("*", "your {which} {has} shape {got}: the expected values {how}. Return shape {want}."),
    "input_shape": (
        "*",
        "your {which} has shape {got}, the shape of the input {arg}, where {want} is expected: check which tensor it "
        "is computed from.",
    ),
    "dims_reordered": (
        "*",
        "your {which} {holds} the expected values with {its} dimensions in another order: ({got}) where ({want}) is "
        "expected{fix}.",
    ),
    "slice_of": ("*", "{how}. Return shape {want}."),
    "written_elsewhere": ("*", "your {which} {has} the expected values in the wrong places: {how}"),
    "reduced_dim": (
        "*",
        "your {which} (shape {got}) {is} {how} of the expected one (shape {want}): return every {each} separately.",
    ),
    "precision_only": (
        "*",
        "your values are right in {good} and wrong only in {bad}: a step overflows or rounds away there. Look for a "
        "constant too large for {bad} (float16 reaches only 65504, so -1e9 does not fit) or a tensor made in "
        "another dtype.",
    ),
    "index_map": ("*", "your {which} {has} the expected values in another order: {how}."),
    "scaled_values": ("*", "your {which} {is} {how}."),
    "scaled_along": ("*", "your {which} {is} off by a factor that changes from entry to entry: {how}."),
    "offset_values": ("*", "your {which} {is} {how}: look for a term added or taken away that does not belong."),
    "input_added": (
        "*",
        "your {which} {is} the expected one plus the input {arg}: a residual connection (x + ...) belongs outside "
        "{function}, in the model that uses it; leave it out here.",
    ),
    "elementwise_map": ("*", "your {which} {is} {map} of the expected values: {undo}."),
    "mask_as_numbers": (
        "*",
        "your {which} {holds} {true} where the expected mask is True and {false} where it is False: return the bool "
        "mask itself, True and False.",
    ),
    "softmax_again": (
        "*",
        "your {which} {is} a softmax of the expected {which} along {axis}, so {they} sum to 1 over {axis}, where "
        "nothing asks for that: leave that softmax out here.",
    ),
    "other_temperature": (
        "*",
        "your {which} are {sharper} than expected: they are a softmax of the expected scores multiplied by {t}{cause}",
    ),
    "normalised_elsewhere": (
        "*",
        "your {which} sum to 1 over the {theirs}, where they should sum to 1 over the {right}: take the softmax "
        "along the {right} (dim={dim}), one {other} at a time.",
    ),
    "rows_rescaled": (
        "*",
        "your {which} are in the right proportions along {along} but sum to 1 over {over}, not along {along} alone: "
        "divide by the sum along dim={dim} (keepdim=True).",
    ),
    "rows_off_sum": (
        "*",
        "your {which} are in the right proportions along {along}, but each slice along it sums to {sums}, not 1: "
        "divide by the sum along dim={dim} and nothing else (no epsilon added, no other dimension).",
    ),
    "weight_where_none": (
        "*",
        "your {which} give weight to {where}, which should get none; on the others they are in the right "
        "proportions: hide those before the softmax (set their scores to -inf).",
    ),
    "no_weight_where_some": (
        "*",
        "your {which} give no weight to {where}, which should get some; on the others they are in the right "
        "proportions: each {one} must see those too.",
    ),
    "region_split": ("*", "your {which} {is} right on {right} and wrong only on {wrong}."),
    "case_split": (
        "*",
        "your {function} is right on every case where {right}, and {how} on every case where {wrong}: look at what "
        "your code does differently there.",
    ),
}

#: id -> a few words that name the mistake, where a whole hint does not fit: a picture's title. Every id in
#: CATALOGUE has them (tests/unit/test_picture_words.py), in words a student who has read the lesson knows.
TITLES: dict[str, str] = {
    # qk_scores
    "missing_scale": "scores not divided by sqrt(d)",
    "wrong_scale": "scores scaled by the wrong number",
    "wrong_transpose": "k transposed the wrong way",
    # softmax_with_temperature
    "wrong_dim": "softmax along the wrong dimension",
    "temperature_inverted": "multiplied by the temperature, not divided",
    "temperature_ignored": "temperature left out",
    "unstable_softmax": "exp overflows: row maximum not subtracted",
    "accepts_invalid_temperature": "a bad temperature was accepted",
    "fully_masked_row_nan": "NaN on a row that is all -inf",
    # causal_mask
    "mask_inverted": "mask shows the future, not the past",
    "mask_diagonal_excluded": "mask hides each token from itself",
    "accepts_invalid_length": "a length below 1 was accepted",
    # attention
    "mask_after_softmax": "mask applied after the softmax",
    "mask_fill_zero": "hidden scores set to 0, not -inf",
    "mask_polarity": "mask read backwards",
    "no_gradient": "no gradient flows back",
    # multi_head_attention
    "heads_split_without_transpose": "heads split without a transpose",
    "missing_output_projection": "output projection W_o left out",
    "scale_by_d_model": "scaled by sqrt(d_model), not sqrt(d_head)",
    "weights_averaged": "weights averaged over the heads",
    # plot_attention
    "plot_wrong_data": "heatmap shows other numbers",
    "plot_missing_labels": "heatmap without its labels",
    "plot_missing_colorbar": "heatmap without a colour bar",
    # positional_encoding
    "pe_sin_cos_swapped": "sin and cos swapped",
    "pe_wrong_base": "frequencies with the wrong base",
    "pe_transposed": "one column per position, not one row",
    # kv_cache_attention
    "cache_attend_before_append": "attends before appending to the cache",
    "cache_sees_future": "prompt tokens see the tokens after them",
    "cache_recomputes": "earlier keys and values computed again",
    # any task
    "wrong_shape": "output of the wrong shape",
    "wrong_dtype": "output of the wrong dtype",
    "wrong_device": "tensor on the wrong device",
    "mutates_input": "input changed in place",
    "non_tensor_output": "returned something other than a tensor",
    "nan_output": "NaN or inf where numbers were expected",
    "forbidden_call": "a function this task forbids",
    "detector_tampered": "the grader could not watch the computation",
    "shared_state": "state shared by every instance",
    "not_implemented": "not written yet",
    "exception": "your code raised an exception",
    "timeout": "did not finish in time",
    "wrong_values": "values off",
    "crashed": "the Python process ended",
    "missing": "function not found",
    "callee_failed": "a function it calls is wrong",
    "blocked_by_callee": "a function it calls failed",
    "gradient_mismatch": "gradient off, values right",
    "constant_output": "a placeholder: zeros or one value everywhere",
    # the describer
    "knob": "a setting of the computation changed",
    "outputs_swapped": "outputs in the wrong order",
    "extra_dims": "extra dimensions of size 1",
    "dims_reordered": "dimensions in the wrong order",
    "input_shape": "the shape of an input, not the output",
    "slice_of": "more entries than expected, or fewer",
    "written_elsewhere": "values written into the wrong place",
    "reduced_dim": "a dimension averaged away",
    "precision_only": "wrong only in low precision",
    "index_map": "entries in the wrong order",
    "scaled_values": "values off by a constant factor",
    "scaled_along": "each row or column scaled by its own factor",
    "offset_values": "values shifted by a constant",
    "input_added": "the input added to the output",
    "elementwise_map": "a function of the right values",
    "mask_as_numbers": "a mask written as numbers",
    "softmax_again": "a softmax too many",
    "other_temperature": "weights too sharp or too flat",
    "normalised_elsewhere": "normalised along the wrong dimension",
    "rows_rescaled": "normalised over too much",
    "rows_off_sum": "weights that do not sum to 1",
    "weight_where_none": "weight where none belongs",
    "no_weight_where_some": "entries left out of the weights",
    "region_split": "wrong on one region only",
    "case_split": "wrong on one kind of case only",
}

#: A specific diagnosis makes these generic ones redundant: the student reads one explanation, not two.
SUBSUMES = {
    "unstable_softmax": {"nan_output"},
    "fully_masked_row_nan": {"nan_output"},
    "wrong_transpose": {"wrong_shape"},
    "weights_averaged": {"wrong_shape"},
    "pe_transposed": {"wrong_shape", "wrong_values"},
    "mutates_input": {"exception"},
    "constant_output": {"wrong_values"},
    "shared_state": {"wrong_values", "wrong_shape", "wrong_device", "exception"},  # what the leftovers caused
    **{
        did: {"wrong_shape", "wrong_values"}
        for did in ("knob", "outputs_swapped", "extra_dims", "dims_reordered", "input_shape")
    },
    "reduced_dim": {"wrong_shape", "wrong_values"},
    "elementwise_map": {"nan_output", "wrong_values"},
    "mask_as_numbers": {"nan_output", "wrong_values"},
}


@dataclass
class Diagnosis:
    id: str
    message: str

    @classmethod
    def make(cls, did: str, **details) -> Diagnosis:
        return cls(did, CATALOGUE[did][1].format(**details))


def within(a: torch.Tensor, b: torch.Tensor, atol: float, rtol: float) -> torch.Tensor:
    """Elementwise: |a - b| <= atol + rtol |b| where b is finite; where b is inf or NaN, a must be the same."""
    a, b = a.to(torch.float64), b.to(torch.float64)
    near = ((a - b).abs() <= atol + rtol * b.abs()) & torch.isfinite(b)  # else inf <= atol + rtol * inf
    return near | (a.isnan() & b.isnan()) | (a == b)


def close(a: torch.Tensor, b: torch.Tensor, atol: float, rtol: float) -> bool:
    """Same shape and every value `within` tolerance: NaN only where both are NaN, inf only where both are."""
    return a.shape == b.shape and bool(within(a, b, atol, rtol).all())


# --------------------------------------------------------------------------------------------- the rules
# Each rule takes the task's CaseResults (failed ones first) and returns Diagnoses. `r.got` holds the
# student's outputs as float64 tensors, `r.case` the Case with its inputs and expected outputs.


def model_output(name: str, case, callees: dict | None = None) -> torch.Tensor | None:
    """What the mistake model `name` gives on `case` (see ``attnlab.answers``); None if it has none.

    The full install computes it from the reference, with `callees` (name -> function) in place of the
    reference's own where a case's callees were replayed (``CaseResult.replayed``: the student's wrong callee,
    or the grader's stand-in for an earlier lesson's function). The student build reads it from the case's data,
    where the build stored every model that ``answers.applicable(case)`` lists; it replays nothing.
    """
    models = answers()
    return case.models.get(name) if models is None else models.mistake(name, case, callees)


def _matches(got: torch.Tensor, name: str, r) -> bool:
    model = model_output(name, r.case, r.replayed)
    return model is not None and close(got, model, *_loose(r))


def _same_mask(got: torch.Tensor, name: str, case) -> bool:
    model = model_output(name, case)
    return model is not None and torch.equal(got, model)


def loose_tolerance(dtype: str) -> tuple[float, float]:
    """(atol, rtol) for matching a mistake model or a relation on a case of `dtype`: looser than grading, since
    only the shape of the error counts."""
    return (1e-4, 1e-4) if dtype in ("float64", "float32") else (5e-2, 5e-2)


def _loose(r) -> tuple[float, float]:
    return loose_tolerance(r.case.dtype)


class _Placeholder(NamedTuple):
    words: str  # "zeros everywhere", "its input scores unchanged"
    which: str  # the output's name: "scores", "weights"
    value: float | None  # the constant, None for an input unchanged
    varies: bool  # whether the expected output varies (else only a constant seen elsewhere counts)


def constant_outputs(results, function: str) -> dict[int, Diagnosis]:
    """constant_output for each failing value case (by its index in `results`) whose outputs are
    placeholders: zeros, one value everywhere, a mask all True or all False, or an input unchanged.

    An output counts only where it is wrong and the expected one is not constant itself (a softmax of
    equal scores is rightly uniform). On a case whose expected output holds one value, such as the
    1 x 1 probe, an output counts when the same constant already showed on another case. The task's
    other rules do not read these cases: zeros are not a scale of 0, nor a mask inverted.
    """
    found = {i: _placeholders(r) for i, r in enumerate(results)}
    seen = {p.value for parts in found.values() for p in parts if p.varies}
    out = {}
    # Cases whose expected output varies first: the first one found is the task's headline.
    for i, parts in sorted(found.items(), key=lambda item: not any(p.varies for p in item[1])):
        shown = [p for p in parts if p.varies or p.value in seen]
        if not shown:
            continue
        case = results[i].case
        words: dict[str, list[str]] = {}
        for p in shown:
            words.setdefault(p.words, []).append(p.which)
        many = len(case.expected) > 1
        what = " and ".join(f"returns {w}" + (f" as {' and '.join(n)}" if many else "") for w, n in words.items())
        names = [p.which for p in shown]
        verb = "vary" if len(names) > 1 or names[0] in ("scores", "weights") else "varies"
        out[i] = Diagnosis.make(
            "constant_output",
            case=case.label,
            function=function,
            what=what,
            expected=f"the expected {' and '.join(names)} {verb}",
            todo=TASKS[case.task].todo,
        )
    return out


def _placeholders(r) -> list[_Placeholder]:
    case = r.case
    if r.passed or case.kind not in ("call", "module") or not r.got or not isinstance(case.expected, list):
        return []
    out = []
    for i, (got, exp) in enumerate(zip(r.got, case.expected)):
        if not isinstance(exp, torch.Tensor) or got is None or got.shape != exp.shape or got.numel() == 0:
            continue
        e = exp.to(torch.float64)
        if close(got, e, *_loose(r)):
            continue  # this output is right
        which = TASKS[case.task].output_name(i)
        same = _unchanged_input(got, e, case)
        if same:
            out.append(_Placeholder(f"its input {same} unchanged", which, None, True))
            continue
        if not bool(torch.isfinite(got).all()) or float(got.max() - got.min()) != 0:
            continue
        v = float(got.flatten()[0])
        if exp.dtype == torch.bool:
            words = f"a mask that is {bool(v)} everywhere"
        else:
            words = "zeros everywhere" if v == 0 else f"the same value ({v:.4g}) everywhere"
        out.append(_Placeholder(words, which, v, _varies(e, r)))
    return out


def _varies(e: torch.Tensor, r) -> bool:
    finite = e[torch.isfinite(e)]
    return finite.numel() > 1 and not close(finite, torch.full_like(finite, float(finite.median())), *_loose(r))


def _unchanged_input(got: torch.Tensor, e: torch.Tensor, case) -> str:
    """The contract's name of the input that `got` is, unchanged, where the expected output is not it; '' if none."""
    spec = TASKS[case.task]
    for j, a in enumerate(case.spec.get("args", [])):
        t = case.tensors.get(a.get("t", "")) if isinstance(a, dict) else None
        if t is None or t.shape != got.shape:
            continue
        t64 = t.to(torch.float64)
        if torch.equal(got, t64) and not close(e, t64, 1e-4, 1e-4):
            return spec.arg_name(j)
    return ""


def qk_rules(results) -> list[Diagnosis]:
    out: dict[str, Diagnosis] = {}
    not_scaled = False
    for r in results:
        if r.passed or not r.got or r.got[0] is None:
            continue
        got, exp = r.got[0], r.case.expected[0]
        q = r.case.tensors.get("q")
        if q is None:
            continue
        d = q.shape[-1]
        if got.shape != exp.shape and got.shape == exp.transpose(-2, -1).shape:
            out["wrong_transpose"] = _keys_by_queries(tuple(got.shape), tuple(exp.shape))
            continue
        if got.shape != exp.shape:
            continue
        if (
            exp.shape[-1] == exp.shape[-2]
            and close(got, exp.transpose(-2, -1), *_loose(r))
            and not close(got, exp, *_loose(r))
        ):
            out["wrong_transpose"] = _keys_by_queries("(S, L)", "(L, S)")
            continue
        sel = exp.abs() > 1e-3
        if sel.sum() == 0:
            continue
        ratios = got[sel] / exp[sel]
        ratio = float(ratios.median())
        if ratio == 0:
            continue  # zeros are not a scale: constant_output names them where it can tell
        scaled = math.isfinite(ratio) and float((ratios - ratio).abs().max()) < 0.05 * abs(ratio) + 1e-6
        if not scaled and int(sel.sum()) >= 2:
            not_scaled = True  # a case that shows no one factor: a scale cannot be the whole story
        if scaled and abs(ratio - 1) > 0.01:
            if d > 1 and abs(ratio - math.sqrt(d)) < 0.02 * math.sqrt(d):
                out["missing_scale"] = Diagnosis.make("missing_scale", ratio=ratio, d=d)
            else:
                also = (
                    f" (1/{1 / ratio:.3g} = 1/sqrt({d}) suggests you divided by d)"
                    if d > 1 and abs(ratio * math.sqrt(d) - 1) < 0.02
                    else ""
                )
                out.setdefault("wrong_scale", Diagnosis.make("wrong_scale", ratio=ratio, also=also))
    if not_scaled:  # e.g. a softmax inside qk_scores: 1 on the one-key probe looks like sqrt(d) times 1/sqrt(d)
        out.pop("missing_scale", None)
        out.pop("wrong_scale", None)
    return list(out.values())


def _keys_by_queries(got, want) -> Diagnosis:
    what = f"your scores come out as keys x queries, shape {got}, where queries x keys {want} was expected"
    return Diagnosis.make("wrong_transpose", what=what, why=", so each row is one query")


# Transposes of k that are right for a matrix and wrong once k has batch dimensions, with what goes wrong.
_MATRIX_TRANSPOSES = {
    "k.T": (lambda q, k: q @ k.T, "k.T reverses every dimension of k, the batch ones too"),
    "k.t()": (lambda q, k: q @ k.t(), "k.t() accepts at most 2 dimensions"),
    "k.transpose(0, 1)": (lambda q, k: q @ k.transpose(0, 1), "k.transpose(0, 1) swaps the first two dimensions"),
    "k.permute(1, 0)": (lambda q, k: q @ k.permute(1, 0), "k.permute(1, 0) accepts exactly 2 dimensions"),
}


def qk_error(case, err: dict) -> Diagnosis | None:
    """wrong_transpose for a batched case that raised exactly what q @ k.T (or k.t(), ...) raises on it.

    On 2-D inputs k.T is right, so such code passes those cases and raises on the batched ones with a
    RuntimeError about sizes (3 and 8 do not match) that does not point at the transpose. The slip is
    rebuilt on the same inputs, and named only where it raises the very same error.
    """
    q, k = case.tensors.get("q"), case.tensors.get("k")
    msg = str(err.get("msg", ""))
    if q is None or k is None or k.dim() <= 2 or err.get("type") != "RuntimeError":
        return None
    for spelled, (slip, why) in _MATRIX_TRANSPOSES.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # k.T on more than 2 dimensions is deprecated
                slip(q, k)
        except RuntimeError as e:
            if (str(e).strip().splitlines() or [""])[0][:300] != msg:
                continue
            lines = [ln.strip() for ln in str(err.get("tb", "")).splitlines() if ln.strip()]
            line = f"`{lines[-1][:120]}`" if len(lines) >= 2 else "your code"
            what = (
                f"on {case.label}, {line} raised RuntimeError ({msg[:160]}), as q @ {spelled} does there; "
                f"with batch dimensions, {why}"
            )
            return Diagnosis.make("wrong_transpose", what=what, why=", which swaps only the last two dimensions")
    return None


def softmax_rules(results) -> list[Diagnosis]:
    out: dict[str, Diagnosis] = {}
    for r in results:
        case = r.case
        if case.kind == "expect_error":
            if not r.passed and r.meta.get("raised") is None and r.meta.get("status") == "ok":
                out.setdefault(
                    "accepts_invalid_temperature",
                    Diagnosis.make("accepts_invalid_temperature", T=case.id.split("_")[-1]),
                )
            continue
        if r.passed or not r.got or r.got[0] is None or "x" not in case.tensors:
            continue
        got, exp = r.got[0], case.expected[0]
        T, dim, n = case.extra["T"], case.extra["dim"], exp.dim()
        if got.shape != exp.shape:
            continue
        if case.probe == "full_row":
            if got.isnan().any():
                out["fully_masked_row_nan"] = Diagnosis.make("fully_masked_row_nan")
            continue
        nan = got.isnan() | (got == float("inf"))  # what exp overflowing gives; -inf is a log of 0, not this
        if nan.any() and torch.isfinite(exp).all():
            bad = "NaN" if got.isnan().any() else "inf"
            out.setdefault("unstable_softmax", Diagnosis.make("unstable_softmax", bad=bad, where=r.case.label))
            continue
        if T != 1.0 and T > 0 and _matches(got, "temperature_inverted", r):
            out["temperature_inverted"] = Diagnosis.make("temperature_inverted", T=T)
            continue
        if T != 1.0 and _matches(got, "temperature_ignored", r):
            out["temperature_ignored"] = Diagnosis.make("temperature_ignored", T=T)
            continue
        for other in range(n):
            if other != dim % n and _matches(got, f"wrong_dim:{other}", r):
                out["wrong_dim"] = Diagnosis.make("wrong_dim", their_dim=other, dim=dim)
                break
        else:
            s = got.sum(dim=dim)
            if (s - 1).abs().max() > 0.01:
                for other in range(n):
                    if other != dim % n and (got.sum(dim=other) - 1).abs().max() < 0.01:
                        out["wrong_dim"] = Diagnosis.make("wrong_dim", their_dim=other, dim=dim)
    untouched = [  # a case at temperature 1, where what a slip does to the temperature changes nothing
        r
        for r in results
        if r.case.kind == "call" and r.case.probe != "full_row" and r.case.extra.get("T") == 1.0 and not r.passed
    ]
    if untouched and any(r.got and r.got[0] is not None for r in untouched):
        out.pop("temperature_inverted", None)  # wrong at T = 1 too: the temperature is not the whole story (a
        out.pop("temperature_ignored", None)  # softmax in base 2, say, matches T = 1 at T = 0.7 by chance)
    return list(out.values())


def mask_rules(results) -> list[Diagnosis]:
    out: dict[str, Diagnosis] = {}
    for r in results:
        case = r.case
        if case.kind == "expect_error":
            if not r.passed and r.meta.get("raised") is None and r.meta.get("status") == "ok":
                out.setdefault(
                    "accepts_invalid_length", Diagnosis.make("accepts_invalid_length", n=case.id.split("_")[-1])
                )
            continue
        if r.passed or not r.got or r.got[0] is None or "n" not in case.extra:
            continue
        got, n = r.got[0], case.extra["n"]
        if got.shape != (n, n) or not bool(((got == 0) | (got == 1)).all()):
            continue  # not a mask of True and False (0 and -inf, say): the describer says what it is
        g = got != 0
        if n == 1:
            continue  # too small to tell the mistakes apart
        if _same_mask(g, "mask_inverted", case) or _same_mask(g, "mask_inverted:with_diagonal", case):
            out["mask_inverted"] = Diagnosis.make("mask_inverted")
        elif _same_mask(g, "mask_diagonal_excluded", case):
            out["mask_diagonal_excluded"] = Diagnosis.make("mask_diagonal_excluded")
    return list(out.values())


def attention_rules(results) -> list[Diagnosis]:
    out: dict[str, Diagnosis] = {}
    for r in results:
        case = r.case
        if case.kind != "call":
            continue
        grads = r.meta.get("grads")
        if case.expected_grads and grads is not None and r.values_ok:
            missing = [n for n in grads.get("names", []) if n not in grads.get("present", [])]
            if grads.get("status") == "no_graph" or missing:
                what = (
                    "q, k and v"
                    if grads.get("status") == "no_graph"
                    else ", ".join(contract_name(case, n) for n in missing)
                )
                out["no_gradient"] = Diagnosis.make("no_gradient", what=what)
        mask = case.extra.get("mask")
        if r.passed or mask is None or len(r.got) < 2 or r.got[1] is None:
            continue
        got_w = r.got[1]
        for did in ("mask_after_softmax", "mask_fill_zero", "mask_polarity"):
            w = model_output(did, case, r.replayed)
            if w is not None and close(got_w, w, *_loose(r)):
                if did == "mask_after_softmax":
                    sums = w.sum(-1)
                    out[did] = Diagnosis.make(
                        did,
                        sum=float(sums[(sums - 1).abs() > 1e-6].flatten()[0])
                        if ((sums - 1).abs() > 1e-6).any()
                        else 1.0,
                    )
                else:
                    out[did] = Diagnosis.make(did)
                break
    return list(out.values())


def contract_name(case, n: str) -> str:
    """The contract's name of what a gradient is taken with respect to: "arg.1" -> "k", "param.W_q.weight"."""
    if n.startswith("arg.") and n[4:].isdigit():
        return TASKS[case.task].arg_name(int(n[4:]))
    return n.replace("param.", "")


def _averaged_heads(results) -> Diagnosis | None:
    """weights_averaged: weights of shape (B, L, L) that are the average over the heads on every failing case, and
    on one with several heads at least (with one head, that head's weights are the average too)."""
    flat = [
        r
        for r in results
        if r.case.kind == "module" and not r.passed and len(r.got) > 1 and r.got[1] is not None and r.got[1].dim() == 3
    ]
    averaged = []
    for r in flat:
        mean = r.case.expected[1].to(torch.float64).mean(dim=1)
        if r.got[1].shape != mean.shape or not close(r.got[1], mean, *_loose(r)):
            return None
        averaged.append(r.case.extra["H"] > 1)
    return Diagnosis.make("weights_averaged", got=tuple(flat[0].got[1].shape)) if any(averaged) else None


def mha_rules(results) -> list[Diagnosis]:
    out: dict[str, Diagnosis] = {}
    by_probe = {r.case.probe: r for r in results if r.case.probe}
    averaged = _averaged_heads(results)
    if averaged is not None:
        out["weights_averaged"] = averaged
    for r in results:
        case = r.case
        if case.kind != "module" or r.passed or not r.got or r.got[0] is None:
            continue
        H, dm = case.extra["H"], case.extra["d_model"]
        if H > 1 and _matches(r.got[0], "heads_split_without_transpose", r):
            h1 = by_probe.get("H=1")
            if h1 is None or h1.passed or h1.inherited:
                out["heads_split_without_transpose"] = Diagnosis.make("heads_split_without_transpose", H=H)
        if case.probe != "W_o=I" and _matches(r.got[0], "missing_output_projection", r):
            out["missing_output_projection"] = Diagnosis.make("missing_output_projection")
        if H > 1 and _matches(r.got[0], "scale_by_d_model", r):
            out["scale_by_d_model"] = Diagnosis.make("scale_by_d_model", d_model=dm, d_head=dm // H)
    return list(out.values())


def _models(case, prefix: str) -> list[str]:
    """The mistake models for `case` whose names start with `prefix` ("pe_wrong_base:")."""
    models = answers()
    names = case.models if models is None else models.applicable(case)
    return [n for n in names if n.startswith(prefix)]


def pe_rules(results) -> list[Diagnosis]:
    out: dict[str, Diagnosis] = {}
    for r in results:
        case = r.case
        if case.kind != "call" or r.passed or not r.got or r.got[0] is None:
            continue
        got, exp = r.got[0], case.expected[0]
        if got.shape == exp.T.shape and close(got.T, exp, *_loose(r)) and not close(got, exp, *_loose(r)):
            out["pe_transposed"] = Diagnosis.make("pe_transposed", got=tuple(got.shape), want=tuple(exp.shape))
            continue
        if got.shape != exp.shape:
            continue
        if _models(case, "pe_sin_cos_swapped") and _matches(got, "pe_sin_cos_swapped", r):
            out["pe_sin_cos_swapped"] = Diagnosis.make("pe_sin_cos_swapped")
            continue
        for name in _models(case, "pe_wrong_base:"):
            if _matches(got, name, r):
                base = float(name.split(":")[1])
                why = " (10000^(i / d_model) is 100^(2i / d_model): did you drop the 2 of 2i?)" if base == 100 else ""
                out["pe_wrong_base"] = Diagnosis.make("pe_wrong_base", base=base, why=why)
                break
    return list(out.values())


def kv_rules(results) -> list[Diagnosis]:
    out: dict[str, Diagnosis] = {}
    for r in results:
        case = r.case
        if case.kind != "module" or r.passed or len(r.got) < 2 or r.got[1] is None:
            continue
        got_w, first = r.got[1], case.extra["steps"][0]
        if got_w.shape != case.expected[1].shape:
            continue
        for did in _models(case, "cache_"):
            w = model_output(did, case, r.replayed)
            rows = slice(first, None) if did == "cache_attend_before_append" else slice(None)  # the first call may
            if close(got_w[:, rows], w[:, rows], *_loose(r)):  # have had its empty cache handled either way
                out[did] = Diagnosis.make(did)
                break
    return list(out.values())


def add_slips(task_id: str, slips: list[tuple[str, str, str]]) -> None:
    """A course task's named slips (``attnlab.task_api``), as (id, title, hint): into the catalogue, with
    `slip_rules` to name them. The hint is said as written (no template fields)."""
    for sid, title, hint in slips:
        CATALOGUE[sid] = (task_id, hint.replace("{", "{{").replace("}", "}}"))
        TITLES[sid] = title
    RULES[task_id] = slip_rules


def slip_rules(results) -> list[Diagnosis]:
    """A course task's named slips: the one whose model gives the student's wrong output on every failing case
    where the slip changes that output, and on one at least."""
    failing = [r for r in results if r.case.kind in ("call", "module") and not r.passed and r.got]
    if not failing:
        return []
    task = failing[0].case.task
    out = []
    for sid in [did for did, (t, _) in CATALOGUE.items() if t == task]:
        seen, missed = 0, False
        for r in failing:
            expected = r.case.expected if isinstance(r.case.expected, list) else []
            for i, (got, exp) in enumerate(zip(r.got, expected)):
                model = model_output(f"{sid}:{i}", r.case)
                if got is None or model is None or close(model, exp.to(torch.float64), *_loose(r)):
                    continue  # the slip changes nothing here, or does not apply: this case cannot tell
                if close(got, model, *_loose(r)):
                    seen += 1
                elif not close(got, exp.to(torch.float64), *_loose(r)):
                    missed = True
        if seen and not missed:
            out.append(Diagnosis.make(sid))
    return out[:1]


#: Rules for a case that raised: they name a mistake that shows only as an exception.
ERROR_RULES = {"qk_scores": qk_error}

RULES = {
    "qk_scores": qk_rules,
    "softmax_with_temperature": softmax_rules,
    "causal_mask": mask_rules,
    "attention": attention_rules,
    "multi_head_attention": mha_rules,
    "positional_encoding": pe_rules,
    "kv_cache_attention": kv_rules,
}
