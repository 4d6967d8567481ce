"""The diagnosis rules of the causal_mask task: a mask that shows the future, or hides each token from itself, and a
length below 1 accepted.

Public, as the whole catalogue is: the student build runs these rules on its public cases, reading the mistake
models from the cases' data (``diagnose.model_output``). The models themselves are in the task's module of the
answers zone (``attnlab/answers/tasks/causal_mask.py``), which this module may not import.
"""

from __future__ import annotations

from ..diagnose import Diagnosis, same_mask

TASK = "causal_mask"

#: id -> message template, as in ``diagnose.CATALOGUE``, where these join the task-independent ones.
CATALOGUE: dict[str, str] = {
    "mask_inverted": (
        "your mask is True where a query looks at the future (j > i): it must be True where j <= i, "
        "the past and the token itself."
    ),
    "mask_diagonal_excluded": (
        "your mask hides each token from itself: position i must also see position i (j <= i, not j < i)."
    ),
    "accepts_invalid_length": ("causal_mask({n}) returned a mask: raise ValueError when seq_len is less than 1."),
}

#: id -> a few words that name the mistake (``diagnose.TITLES``).
TITLES: dict[str, str] = {
    "mask_inverted": "mask shows the future, not the past",
    "mask_diagonal_excluded": "mask hides each token from itself",
    "accepts_invalid_length": "a length below 1 was accepted",
}


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
        if same_mask(g, "mask_inverted", case) or same_mask(g, "mask_inverted:with_diagonal", case):
            out["mask_inverted"] = Diagnosis.make("mask_inverted")
        elif same_mask(g, "mask_diagonal_excluded", case):
            out["mask_diagonal_excluded"] = Diagnosis.make("mask_diagonal_excluded")
    return list(out.values())


#: The task's rules: its CaseResults (failed ones first) -> Diagnoses.
RULES = mask_rules
