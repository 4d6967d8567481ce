"""The diagnosis rules of the positional_encoding task: sin and cos swapped, frequencies of the wrong base, and one
column per position.

Public, as the whole catalogue is: the student build runs these rules on its public cases, reading the mistake
models from the cases' data (``diagnose.model_output``). The models themselves are in the task's module of the
answers zone (``attnlab/answers/tasks/positional_encoding.py``), which this module may not import.
"""

from __future__ import annotations

from ..diagnose import Diagnosis, close, loose, matches_model, models_named

TASK = "positional_encoding"

#: id -> message template, as in ``diagnose.CATALOGUE``, where these join the task-independent ones.
CATALOGUE: dict[str, str] = {
    "pe_sin_cos_swapped": (
        "your encoding has cos in the even columns and sin in the odd ones: column 2i holds sin(pos "
        "/ 10000^(2i / d_model)) and column 2i + 1 the cos of the same angle, so position 0 reads 0, "
        "1, 0, 1, ..."
    ),
    "pe_wrong_base": (
        "your frequencies fall off as if their base were {base:g}, not 10000{why}: the angle in "
        "columns 2i and 2i + 1 is pos / 10000^(2i / d_model)."
    ),
    "pe_transposed": (
        "your encoding has shape {got}, one column per position: return one row per position, shape "
        "(seq_len, d_model) = {want}, so that it can be added to the token vectors x (seq_len, "
        "d_model)."
    ),
}

#: id -> a few words that name the mistake (``diagnose.TITLES``).
TITLES: dict[str, str] = {
    "pe_sin_cos_swapped": "sin and cos swapped",
    "pe_wrong_base": "frequencies with the wrong base",
    "pe_transposed": "one column per position, not one row",
}

#: A diagnosis of this task that makes these generic ones redundant (``diagnose.SUBSUMES``).
SUBSUMES = {
    "pe_transposed": {"wrong_shape", "wrong_values"},
}


def pe_rules(results) -> list[Diagnosis]:
    out: dict[str, Diagnosis] = {}
    for r in results:
        case = r.case
        if case.kind != "call" or r.passed or not r.got or r.got[0] is None:
            continue
        got, exp = r.got[0], case.expected[0]
        if got.shape == exp.T.shape and close(got.T, exp, *loose(r)) and not close(got, exp, *loose(r)):
            out["pe_transposed"] = Diagnosis.make("pe_transposed", got=tuple(got.shape), want=tuple(exp.shape))
            continue
        if got.shape != exp.shape:
            continue
        if models_named(case, "pe_sin_cos_swapped") and matches_model(got, "pe_sin_cos_swapped", r):
            out["pe_sin_cos_swapped"] = Diagnosis.make("pe_sin_cos_swapped")
            continue
        for name in models_named(case, "pe_wrong_base:"):
            if matches_model(got, name, r):
                base = float(name.split(":")[1])
                why = " (10000^(i / d_model) is 100^(2i / d_model): did you drop the 2 of 2i?)" if base == 100 else ""
                out["pe_wrong_base"] = Diagnosis.make("pe_wrong_base", base=base, why=why)
                break
    return list(out.values())


#: The task's rules: its CaseResults (failed ones first) -> Diagnoses.
RULES = pe_rules
