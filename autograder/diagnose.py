"""The diagnosis catalogue: every mistake the grader can name, and the rules that name it.

Each id has a message template, written for a student who has read the lesson and nothing more. Rules
look at what the student's function returned on the cases (``judge.CaseResult``) and test it against
properties and probes: rows sum to 1, a shift changes nothing, ``scores(e1, e1) = 1/sqrt(d)``, with V = I
the output shows the weights, with one head a head-split bug vanishes, with W_o = I a missing output
projection vanishes. Where a property points at a specific slip, the rule compares the student's
numbers with that slip rebuilt from the same inputs (a *mistake model*) before naming it.

The mistake models live in ``attnlab.models``, next to the answers they are one slip away from. Rules
reach them through one seam, `model_output`, which computes them in the full install and reads them
from the case's data in the student build; either way the rules, and so the diagnoses, are the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .cases import answers

# id -> (task or "*", message template). Templates are filled with str.format(**details).
CATALOGUE: dict[str, tuple[str, str]] = {
    # qk_scores
    "missing_scale": ("qk_scores", "your scores are {ratio:.1f}x the expected ones everywhere, and {ratio:.1f} = sqrt({d}): did you forget to divide by sqrt(d)?"),
    "wrong_scale": ("qk_scores", "your scores are {ratio:.3g}x the expected ones everywhere: divide q @ k^T by sqrt(d), the square root of the last dimension{also}."),
    "wrong_transpose": ("qk_scores", "your scores come out as keys x queries, shape {got}, where queries x keys {want} was expected: use q @ k.transpose(-2, -1), so each row is one query."),
    # softmax_with_temperature
    "wrong_dim": ("softmax_with_temperature", "your weights sum to 1 along dim {their_dim}, not along dim {dim} as asked: pass `dim` through to your max and sum."),
    "temperature_inverted": ("softmax_with_temperature", "with temperature {T:g} your weights match softmax(scores * T): divide by the temperature instead, so a small T makes the weights sharp."),
    "temperature_ignored": ("softmax_with_temperature", "with temperature {T:g} your weights equal the T = 1 weights: divide the scores by the temperature before the softmax."),
    "unstable_softmax": ("softmax_with_temperature", "your softmax gives {bad} on {where}: exp overflows for large scores. Subtract each row's maximum before exp; it changes nothing else."),
    "accepts_invalid_temperature": ("softmax_with_temperature", "temperature = {T} was accepted: raise ValueError unless the temperature is a finite number greater than 0."),
    "fully_masked_row_nan": ("softmax_with_temperature", "a row that is entirely -inf gave NaN: such a row has nothing to attend to and must come out as all zeros (the max is -inf there, and -inf - -inf is NaN)."),
    # causal_mask
    "mask_inverted": ("causal_mask", "your mask is True where a query looks at the future (j > i): it must be True where j <= i, the past and the token itself."),
    "mask_diagonal_excluded": ("causal_mask", "your mask hides each token from itself: position i must also see position i (j <= i, not j < i)."),
    "accepts_invalid_length": ("causal_mask", "causal_mask({n}) returned a mask: raise ValueError when seq_len is less than 1."),
    # attention
    "mask_after_softmax": ("attention", "your weights match softmax(scores) * mask: a row then sums to {sum:.2f}, not 1. Fill the hidden scores with -inf before the softmax."),
    "mask_fill_zero": ("attention", "your weights match a softmax where hidden scores were set to 0: a score of 0 still gets weight. Fill them with -inf instead."),
    "mask_polarity": ("attention", "your weights match the mask read backwards: True means 'may attend', so hide the keys where the mask is False (masked_fill(~mask, -inf))."),
    "no_gradient": ("attention", "no gradient reaches {what}: avoid torch.no_grad(), .detach(), .item(), .numpy() and new tensors built from values in the forward pass."),
    # multi_head_attention
    "heads_split_without_transpose": ("multi_head_attention", "with one head you are right, with {H} heads not, and your numbers match x.view(B, H, L, d_head): view as (B, L, H, d_head), then transpose(1, 2), and undo both at the end."),
    "missing_output_projection": ("multi_head_attention", "with W_o = I you are right, otherwise not, and your output is the concatenated heads: apply self.W_o to them at the end."),
    "scale_by_d_model": ("multi_head_attention", "your scores are scaled by 1/sqrt(d_model) = 1/sqrt({d_model}): each head scales by 1/sqrt(d_head) = 1/sqrt({d_head})."),
    "weights_averaged": ("multi_head_attention", "your weights have shape {got}, the average over heads: return every head's weights, shape (B, n_heads, L, L)."),
    # plot_attention
    "plot_wrong_data": ("plot_attention", "{detail}"),
    "plot_missing_labels": ("plot_attention", "{detail}"),
    "plot_missing_colorbar": ("plot_attention", "{detail}"),
    # any task
    "wrong_shape": ("*", "on {case}, output {which} has shape {got}, expected {want}."),
    "wrong_dtype": ("*", "on {case}, output {which} is {got}, expected {want}: keep the input's dtype (no .float() or torch.tensor(...) with a default dtype)."),
    "wrong_device": ("*", "on {case}, {detail}: make new tensors with device=... (for example torch.arange(n, device=device) or device=x.device)."),
    "mutates_input": ("*", "on {case}, your function changed its input {which} in place: use out-of-place operations (x / t, not x.div_(t) or x /= t)."),
    "non_tensor_output": ("*", "on {case}, you returned {got} where {want} was expected."),
    "nan_output": ("*", "on {case}, your output has NaN or inf where the expected values are finite{where}."),
    "forbidden_call": ("*", "you used {name}{line}, which this task forbids: build it from exp, sum, max and matmul yourself."),
    "not_implemented": ("*", "{function} still raises NotImplementedError: this is where you start."),
    "exception": ("*", "on {case}, your code raised {error}{where}."),
    "timeout": ("*", "your code did not finish {where} within {seconds:g} s: look for an endless loop."),
    "wrong_values": ("*", "on {case}, {detail}."),
    "crashed": ("*", "your code ended the Python process{where} (sys.exit, os._exit or a crash). Nothing after that point could be checked."),
    "missing": ("*", "no {function} was found in your submission{load}."),
    "callee_failed": ("*", "{task} would be right with a correct {callee}: fix {callee} first. No points are taken here for it."),
    "blocked_by_callee": ("*", "{task} could not be checked on {n} case(s) because your {callee} {what} there: fix {callee} first."),
    "gradient_mismatch": ("*", "on {case}, the gradient of {what} is off by up to {err:.3g}, though the forward values are right{hint}."),
}

#: A specific diagnosis makes these generic ones redundant: the student reads one explanation, not two.
SUBSUMES = {
    "unstable_softmax": {"nan_output"},
    "fully_masked_row_nan": {"nan_output"},
    "wrong_transpose": {"wrong_shape"},
    "weights_averaged": {"wrong_shape"},
    "mutates_input": {"exception"},
}


@dataclass
class Diagnosis:
    id: str
    message: str

    @classmethod
    def make(cls, did: str, **details) -> "Diagnosis":
        return cls(did, CATALOGUE[did][1].format(**details))


def close(a: torch.Tensor, b: torch.Tensor, atol: float, rtol: float) -> bool:
    """Same shape and |a - b| <= atol + rtol |b|, NaNs only where both are NaN."""
    if a.shape != b.shape:
        return False
    a, b = a.to(torch.float64), b.to(torch.float64)
    both_nan = a.isnan() & b.isnan()
    ok = ((a - b).abs() <= atol + rtol * b.abs()) | both_nan | (a == b)
    return bool(ok.all())


# --------------------------------------------------------------------------------------------- the rules
# Each rule takes the task's CaseResults (failed ones first) and returns Diagnoses. `r.got` holds the
# student's outputs as float64 tensors, `r.case` the Case with its inputs and expected outputs.


def model_output(name: str, case) -> torch.Tensor | None:
    """What the mistake model `name` gives on `case` (see ``attnlab.models``); None if it has none.

    The full install computes it from the reference. The student build reads it from the case's data,
    where the build stored every model that ``models.applicable(case)`` lists.
    """
    models = answers()
    return case.models.get(name) if models is None else models.mistake(name, case)


def _matches(got: torch.Tensor, name: str, r) -> bool:
    model = model_output(name, r.case)
    return model is not None and close(got, model, *_loose(r))


def _same_mask(got: torch.Tensor, name: str, case) -> bool:
    model = model_output(name, case)
    return model is not None and torch.equal(got, model)


def _loose(r) -> tuple[float, float]:
    """Tolerances for matching a mistake model: looser than grading, since only the shape of the error counts."""
    return (1e-4, 1e-4) if r.case.dtype in ("float64", "float32") else (5e-2, 5e-2)


def qk_rules(results) -> list[Diagnosis]:
    out: dict[str, Diagnosis] = {}
    for r in results:
        if r.passed or not r.got or r.got[0] is None:
            continue
        got, exp = r.got[0], r.case.expected[0]
        q = r.case.tensors.get("q")
        if q is None:
            continue
        d = q.shape[-1]
        if got.shape != exp.shape and got.shape == exp.transpose(-2, -1).shape:
            out["wrong_transpose"] = Diagnosis.make("wrong_transpose", got=tuple(got.shape), want=tuple(exp.shape))
            continue
        if got.shape != exp.shape:
            continue
        if exp.shape[-1] == exp.shape[-2] and close(got, exp.transpose(-2, -1), *_loose(r)) and not close(got, exp, *_loose(r)):
            out["wrong_transpose"] = Diagnosis.make("wrong_transpose", got="(S, L)", want="(L, S)")
            continue
        sel = exp.abs() > 1e-3
        if sel.sum() == 0:
            continue
        ratios = got[sel] / exp[sel]
        ratio = float(ratios.median())
        if math.isfinite(ratio) and float((ratios - ratio).abs().max()) < 0.05 * abs(ratio) + 1e-6 and abs(ratio - 1) > 0.01:
            if d > 1 and abs(ratio - math.sqrt(d)) < 0.02 * math.sqrt(d):
                out["missing_scale"] = Diagnosis.make("missing_scale", ratio=ratio, d=d)
            else:
                also = f" (1/{1 / ratio:.3g} = 1/sqrt({d}) suggests you divided by d)" if d > 1 and abs(ratio * math.sqrt(d) - 1) < 0.02 else ""
                out.setdefault("wrong_scale", Diagnosis.make("wrong_scale", ratio=ratio, also=also))
    return list(out.values())


def softmax_rules(results) -> list[Diagnosis]:
    out: dict[str, Diagnosis] = {}
    for r in results:
        case = r.case
        if case.kind == "expect_error":
            if not r.passed and r.meta.get("raised") is None and r.meta.get("status") == "ok":
                out.setdefault("accepts_invalid_temperature", Diagnosis.make("accepts_invalid_temperature", T=case.id.split("_")[-1]))
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
        nan = ~torch.isfinite(got)
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
    return list(out.values())


def mask_rules(results) -> list[Diagnosis]:
    out: dict[str, Diagnosis] = {}
    for r in results:
        case = r.case
        if case.kind == "expect_error":
            if not r.passed and r.meta.get("raised") is None and r.meta.get("status") == "ok":
                out.setdefault("accepts_invalid_length", Diagnosis.make("accepts_invalid_length", n=case.id.split("_")[-1]))
            continue
        if r.passed or not r.got or r.got[0] is None or "n" not in case.extra:
            continue
        got, n = r.got[0], case.extra["n"]
        if got.shape != (n, n):
            continue
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
                what = "q, k and v" if grads.get("status") == "no_graph" else ", ".join(_argname(n) for n in missing)
                out["no_gradient"] = Diagnosis.make("no_gradient", what=what)
        mask = case.extra.get("mask")
        if r.passed or mask is None or len(r.got) < 2 or r.got[1] is None:
            continue
        got_w = r.got[1]
        for did in ("mask_after_softmax", "mask_fill_zero", "mask_polarity"):
            w = model_output(did, case)
            if w is not None and close(got_w, w, *_loose(r)):
                if did == "mask_after_softmax":
                    sums = w.sum(-1)
                    out[did] = Diagnosis.make(did, sum=float(sums[(sums - 1).abs() > 1e-6].flatten()[0]) if ((sums - 1).abs() > 1e-6).any() else 1.0)
                else:
                    out[did] = Diagnosis.make(did)
                break
    return list(out.values())


def _argname(n: str) -> str:
    return {"arg.0": "q", "arg.1": "k", "arg.2": "v"}.get(n, n.replace("param.", "").replace("arg.0", "x"))


def mha_rules(results) -> list[Diagnosis]:
    out: dict[str, Diagnosis] = {}
    by_probe = {r.case.probe: r for r in results if r.case.probe}
    for r in results:
        case = r.case
        if case.kind != "module" or r.passed or not r.got or r.got[0] is None:
            continue
        H, dm = case.extra["H"], case.extra["d_model"]
        if len(r.got) > 1 and r.got[1] is not None and r.got[1].dim() == 3 and case.expected[1].dim() == 4:
            out["weights_averaged"] = Diagnosis.make("weights_averaged", got=tuple(r.got[1].shape))
        if H > 1 and _matches(r.got[0], "heads_split_without_transpose", r):
            h1 = by_probe.get("H=1")
            if h1 is None or h1.passed or h1.inherited:
                out["heads_split_without_transpose"] = Diagnosis.make("heads_split_without_transpose", H=H)
        if case.probe != "W_o=I" and _matches(r.got[0], "missing_output_projection", r):
            out["missing_output_projection"] = Diagnosis.make("missing_output_projection")
        if H > 1 and _matches(r.got[0], "scale_by_d_model", r):
            out["scale_by_d_model"] = Diagnosis.make("scale_by_d_model", d_model=dm, d_head=dm // H)
    return list(out.values())


RULES = {
    "qk_scores": qk_rules,
    "softmax_with_temperature": softmax_rules,
    "causal_mask": mask_rules,
    "attention": attention_rules,
    "multi_head_attention": mha_rules,
}
