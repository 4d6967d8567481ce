"""The diagnosis rules of the kv_cache_attention task: a cache that attends before it appends, prompt tokens that see
the ones after them, and earlier keys and values computed again (``judge``, from what the worker counted).

Public, as the whole catalogue is: the student build runs these rules on its public cases, reading the mistake
models from the cases' data (``diagnose.model_output``). The models themselves are in the task's module of the
answers zone (``attnlab/answers/tasks/kv_cache_attention.py``), which this module may not import.
"""

from __future__ import annotations

from ..diagnose import Diagnosis, close, loose, model_output, models_named

TASK = "kv_cache_attention"

#: id -> message template, as in ``diagnose.CATALOGUE``, where these join the task-independent ones.
CATALOGUE: dict[str, str] = {
    "cache_attend_before_append": (
        "after the first call, each new token sees only the tokens of earlier calls, not itself: "
        "append the new keys and values to the cache first, then attend over all of it."
    ),
    "cache_sees_future": (
        "when a call brings several tokens (a prompt), each of them also sees the ones after it: "
        "mask the new queries with the last n rows of causal_mask(t), for t tokens seen and n new "
        "ones."
    ),
    "cache_recomputes": (
        "on {case}, your {layers} projected {rows} tokens for a sequence of {tokens}: the keys and "
        "values of earlier tokens were computed again at every call. Keep them in self.k_cache and "
        "self.v_cache, and project only x_new."
    ),
}

#: id -> a few words that name the mistake (``diagnose.TITLES``).
TITLES: dict[str, str] = {
    "cache_attend_before_append": "attends before appending to the cache",
    "cache_sees_future": "prompt tokens see the tokens after them",
    "cache_recomputes": "earlier keys and values computed again",
}


def kv_rules(results) -> list[Diagnosis]:
    out: dict[str, Diagnosis] = {}
    for r in results:
        case = r.case
        if case.kind != "module" or r.passed or len(r.got) < 2 or r.got[1] is None:
            continue
        got_w, first = r.got[1], case.extra["steps"][0]
        if got_w.shape != case.expected[1].shape:
            continue
        for did in models_named(case, "cache_"):
            w = model_output(did, case, r.replayed)
            rows = slice(first, None) if did == "cache_attend_before_append" else slice(None)  # the first call may
            if close(got_w[:, rows], w[:, rows], *loose(r)):  # have had its empty cache handled either way
                out[did] = Diagnosis.make(did)
                break
    return list(out.values())


#: The task's rules: its CaseResults (failed ones first) -> Diagnoses.
RULES = kv_rules
