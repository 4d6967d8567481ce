"""The diagnosis rules of the attention task: the mask applied after the softmax, hidden scores set to 0, the mask read
backwards, and no gradient flowing back.

Public, as the whole catalogue is: the student build runs these rules on its public cases, reading the mistake
models from the cases' data (``diagnose.model_output``). The models themselves are in the task's module of the
answers zone (``attnlab/answers/tasks/attention.py``), which this module may not import.
"""

from __future__ import annotations

from ..diagnose import Diagnosis, close, contract_name, loose, model_output

TASK = "attention"

#: id -> message template, as in ``diagnose.CATALOGUE``, where these join the task-independent ones.
CATALOGUE: dict[str, str] = {
    "mask_after_softmax": (
        "your weights match softmax(scores) * mask: a row then sums to {sum:.2f}, not 1. Fill the "
        "hidden scores with -inf before the softmax."
    ),
    "mask_fill_zero": (
        "your weights match a softmax where hidden scores were set to 0: a score of 0 still gets "
        "weight. Fill them with -inf instead."
    ),
    "mask_polarity": (
        "your weights match the mask read backwards: True means 'may attend', so hide the keys where "
        "the mask is False (masked_fill(~mask, -inf))."
    ),
    "no_gradient": (
        "no gradient reaches {what}: avoid torch.no_grad(), .detach(), .item(), .numpy() and new "
        "tensors built from values in the forward pass."
    ),
}

#: id -> a few words that name the mistake (``diagnose.TITLES``).
TITLES: dict[str, str] = {
    "mask_after_softmax": "mask applied after the softmax",
    "mask_fill_zero": "hidden scores set to 0, not -inf",
    "mask_polarity": "mask read backwards",
    "no_gradient": "no gradient flows back",
}


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
            if w is not None and close(got_w, w, *loose(r)):
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


#: The task's rules: its CaseResults (failed ones first) -> Diagnoses.
RULES = attention_rules
