"""The diagnosis rules of the softmax_with_temperature task: the softmax along the wrong dimension, the temperature
inverted or left out, an exp that overflows, NaN on a row that is all -inf, and a bad temperature accepted.

Public, as the whole catalogue is: the student build runs these rules on its public cases, reading the mistake
models from the cases' data (``diagnose.model_output``). The models themselves are in the task's module of the
answers zone (``attnlab/answers/tasks/softmax_with_temperature.py``), which this module may not import.
"""

from __future__ import annotations

import torch

from ..diagnose import Diagnosis, matches_model

TASK = "softmax_with_temperature"

#: id -> message template, as in ``diagnose.CATALOGUE``, where these join the task-independent ones.
CATALOGUE: dict[str, str] = {
    "wrong_dim": (
        "your weights sum to 1 along dim {their_dim}, not along dim {dim} as asked: pass `dim` "
        "through to your max and sum."
    ),
    "temperature_inverted": (
        "with temperature {T:g} your weights match softmax(scores * T): divide by the temperature "
        "instead, so a small T makes the weights sharp."
    ),
    "temperature_ignored": (
        "with temperature {T:g} your weights equal the T = 1 weights: divide the scores by the "
        "temperature before the softmax."
    ),
    "unstable_softmax": (
        "your softmax gives {bad} on {where}: exp overflows for large scores. Subtract each row's "
        "maximum before exp; it changes nothing else."
    ),
    "accepts_invalid_temperature": (
        "temperature = {T} was accepted: raise ValueError unless the temperature is a finite number greater than 0."
    ),
    "fully_masked_row_nan": (
        "a row that is entirely -inf gave NaN: such a row has nothing to attend to and must come out "
        "as all zeros (the max is -inf there, and -inf - -inf is NaN)."
    ),
}

#: id -> a few words that name the mistake (``diagnose.TITLES``).
TITLES: dict[str, str] = {
    "wrong_dim": "softmax along the wrong dimension",
    "temperature_inverted": "multiplied by the temperature, not divided",
    "temperature_ignored": "temperature left out",
    "unstable_softmax": "exp overflows: row maximum not subtracted",
    "accepts_invalid_temperature": "a bad temperature was accepted",
    "fully_masked_row_nan": "NaN on a row that is all -inf",
}

#: A diagnosis of this task that makes these generic ones redundant (``diagnose.SUBSUMES``).
SUBSUMES = {
    "unstable_softmax": {"nan_output"},
    "fully_masked_row_nan": {"nan_output"},
}


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
        if T != 1.0 and T > 0 and matches_model(got, "temperature_inverted", r):
            out["temperature_inverted"] = Diagnosis.make("temperature_inverted", T=T)
            continue
        if T != 1.0 and matches_model(got, "temperature_ignored", r):
            out["temperature_ignored"] = Diagnosis.make("temperature_ignored", T=T)
            continue
        for other in range(n):
            if other != dim % n and matches_model(got, f"wrong_dim:{other}", r):
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


#: The task's rules: its CaseResults (failed ones first) -> Diagnoses.
RULES = softmax_rules
