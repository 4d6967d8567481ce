"""The diagnosis rules of the multi_head_attention task: heads split without a transpose (seen against the one-head
probe), W_o left out (against the W_o = I probe), scores scaled by sqrt(d_model), and weights averaged over the
heads.

Public, as the whole catalogue is: the student build runs these rules on its public cases, reading the mistake
models from the cases' data (``diagnose.model_output``). The models themselves are in the task's module of the
answers zone (``attnlab/answers/tasks/multi_head_attention.py``), which this module may not import.
"""

from __future__ import annotations

import torch

from ..diagnose import Diagnosis, close, loose, matches_model

TASK = "multi_head_attention"

#: id -> message template, as in ``diagnose.CATALOGUE``, where these join the task-independent ones.
CATALOGUE: dict[str, str] = {
    "heads_split_without_transpose": (
        "with one head you are right, with {H} heads not, and your numbers match x.view(B, H, L, "
        "d_head): view as (B, L, H, d_head), then transpose(1, 2), and undo both at the end."
    ),
    "missing_output_projection": (
        "with W_o = I you are right, otherwise not, and your output is the concatenated heads: apply "
        "self.W_o to them at the end."
    ),
    "scale_by_d_model": (
        "your scores are scaled by 1/sqrt(d_model) = 1/sqrt({d_model}): each head scales by "
        "1/sqrt(d_head) = 1/sqrt({d_head})."
    ),
    "weights_averaged": (
        "your weights have shape {got}, the average over heads: return every head's weights, shape (B, n_heads, L, L)."
    ),
}

#: id -> a few words that name the mistake (``diagnose.TITLES``).
TITLES: dict[str, str] = {
    "heads_split_without_transpose": "heads split without a transpose",
    "missing_output_projection": "output projection W_o left out",
    "scale_by_d_model": "scaled by sqrt(d_model), not sqrt(d_head)",
    "weights_averaged": "weights averaged over the heads",
}

#: A diagnosis of this task that makes these generic ones redundant (``diagnose.SUBSUMES``).
SUBSUMES = {
    "weights_averaged": {"wrong_shape"},
}


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
        if r.got[1].shape != mean.shape or not close(r.got[1], mean, *loose(r)):
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
        if H > 1 and matches_model(r.got[0], "heads_split_without_transpose", r):
            h1 = by_probe.get("H=1")
            if h1 is None or h1.passed or h1.inherited:
                out["heads_split_without_transpose"] = Diagnosis.make("heads_split_without_transpose", H=H)
        if case.probe != "W_o=I" and matches_model(r.got[0], "missing_output_projection", r):
            out["missing_output_projection"] = Diagnosis.make("missing_output_projection")
        if H > 1 and matches_model(r.got[0], "scale_by_d_model", r):
            out["scale_by_d_model"] = Diagnosis.make("scale_by_d_model", d_model=dm, d_head=dm // H)
    return list(out.values())


#: The task's rules: its CaseResults (failed ones first) -> Diagnoses.
RULES = mha_rules
