"""The diagnosis rules of the qk_scores task: the scores not divided by sqrt(d), or by the wrong number, and k
transposed the wrong way (from the values, and from the very error q @ k.T raises on batched inputs).

Public, as the whole catalogue is: the student build runs these rules on its public cases, reading the mistake
models from the cases' data (``diagnose.model_output``). The models themselves are in the task's module of the
answers zone (``attnlab/answers/tasks/qk_scores.py``), which this module may not import.
"""

from __future__ import annotations

import math
import warnings

from ..diagnose import Diagnosis, close, loose

TASK = "qk_scores"

#: id -> message template, as in ``diagnose.CATALOGUE``, where these join the task-independent ones.
CATALOGUE: dict[str, str] = {
    "missing_scale": (
        "your scores are {ratio:.1f}x the expected ones everywhere, and {ratio:.1f} = sqrt({d}): did "
        "you forget to divide by sqrt(d)?"
    ),
    "wrong_scale": (
        "your scores are {ratio:.3g}x the expected ones everywhere: divide q @ k^T by sqrt(d), the "
        "square root of the last dimension{also}."
    ),
    "wrong_transpose": "{what}: use q @ k.transpose(-2, -1){why}.",
}

#: id -> a few words that name the mistake (``diagnose.TITLES``).
TITLES: dict[str, str] = {
    "missing_scale": "scores not divided by sqrt(d)",
    "wrong_scale": "scores scaled by the wrong number",
    "wrong_transpose": "k transposed the wrong way",
}

#: A diagnosis of this task that makes these generic ones redundant (``diagnose.SUBSUMES``).
SUBSUMES = {
    "wrong_transpose": {"wrong_shape"},
}


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
            and close(got, exp.transpose(-2, -1), *loose(r))
            and not close(got, exp, *loose(r))
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


#: The task's rules: its CaseResults (failed ones first) -> Diagnoses.
RULES = qk_rules

#: The rule for a case that raised: a mistake that shows only as an exception.
ERROR_RULE = qk_error
