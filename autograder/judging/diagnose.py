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

The mistake models live in ``attnlab.answers``, each in its task's module, next to the answers they are one
slip away from. Rules reach them through one seam, `model_output`, which computes them in the full install and
reads them from the case's data in the student build; either way the rules, and so the diagnoses, are the same.

This module holds the task-independent part: the ids any task may get, the seam, the helpers, and the rules for
placeholders and for a course task's named slips. Each of attnlab's own tasks brings its ids and rules in its
module of ``judging/rules/`` (`_add_task_rules`), so that nothing here names a task. May import the contract
and the grading side's cases; never the answers zone but through ``cases.answers()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from ..tasks import TASKS
from .cases import answers
from .tolerance import close, loose, loose_tolerance, within  # noqa: F401  (the rules and the describer use them from here too)

# id -> (task or "*", message template). Templates are filled with str.format(**details).
CATALOGUE: dict[str, tuple[str, str]] = {
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
    # the describer (attnlab.judging.describe): how a wrong output relates to the expected one
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


def matches_model(got: torch.Tensor, name: str, r) -> bool:
    model = model_output(name, r.case, r.replayed)
    return model is not None and close(got, model, *loose(r))


def same_mask(got: torch.Tensor, name: str, case) -> bool:
    model = model_output(name, case)
    return model is not None and torch.equal(got, model)


class _Placeholder(NamedTuple):
    words: str  # "zeros everywhere", "its input scores unchanged"
    which: str  # the output's name: "scores", "weights"
    value: float | None  # the constant, None for an input unchanged
    varies: bool  # whether the expected output varies (else only a constant seen elsewhere counts)


def constant_outputs(results, function: str) -> dict[int, Diagnosis | None]:
    """constant_output for each failing value case (by its index in `results`) whose outputs are
    placeholders: zeros, one value everywhere, a mask all True or all False, or an input unchanged.

    An output counts only where it is wrong and the expected one is not constant itself (a softmax of
    equal scores is rightly uniform). On a case whose expected output holds one value, such as the
    1 x 1 probe, an output counts when the same constant already showed on another case. The task's other
    rules and the describer do not read these cases: zeros are not a scale of 0, nor a mask inverted.

    A case is None, left out of those but not named, where each of its constant outputs is one the function
    returned varying on another case (`_computed`): it computes them, and a constant on one case (a mask of
    one position, True everywhere, from a slip that makes it so there) is no placeholder.
    """
    found = {i: _placeholders(r) for i, r in enumerate(results)}
    computed = _computed(results)
    seen = {p.value for parts in found.values() for p in parts if p.varies}
    out = {}
    # Cases whose expected output varies first: the first one found is the task's headline.
    for i, parts in sorted(found.items(), key=lambda item: not any(p.varies for p in item[1])):
        shown = [p for p in parts if p.varies or p.value in seen]
        if not shown:
            continue
        if all(p.value is not None and p.which in computed for p in shown):
            out[i] = None
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


def _computed(results) -> set[str]:
    """The outputs, by name, that the function returned varying on some value case (right or wrong), other than as
    an input unchanged: outputs it computes."""
    out = set()
    for r in results:
        case = r.case
        if case.kind not in ("call", "module") or not r.got or not isinstance(case.expected, list):
            continue
        for i, (got, exp) in enumerate(zip(r.got, case.expected)):
            if got is None or not isinstance(exp, torch.Tensor):
                continue
            finite = got[torch.isfinite(got)]
            if finite.numel() < 2 or float(finite.max() - finite.min()) == 0:
                continue
            if got.shape == exp.shape and _unchanged_input(got, exp.to(torch.float64), case):
                continue
            out.add(TASKS[case.task].output_name(i))
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
        if close(got, e, *loose(r)):
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
    return finite.numel() > 1 and not close(finite, torch.full_like(finite, float(finite.median())), *loose(r))


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


def contract_name(case, n: str) -> str:
    """The contract's name of what a gradient is taken with respect to: "arg.1" -> "k", "param.W_q.weight"."""
    if n.startswith("arg.") and n[4:].isdigit():
        return TASKS[case.task].arg_name(int(n[4:]))
    return n.replace("param.", "")


def models_named(case, prefix: str) -> list[str]:
    """The mistake models for `case` whose names start with `prefix` ("pe_wrong_base:")."""
    models = answers()
    names = case.models if models is None else models.applicable(case)
    return [n for n in names if n.startswith(prefix)]


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
                if got is None or model is None or close(model, exp.to(torch.float64), *loose(r)):
                    continue  # the slip changes nothing here, or does not apply: this case cannot tell
                if close(got, model, *loose(r)):
                    seen += 1
                elif not close(got, exp.to(torch.float64), *loose(r)):
                    missed = True
        if seen and not missed:
            out.append(Diagnosis.make(sid))
    return out[:1]


# ---------------------------------------------------------------------------------- each task's own rules
# Every task's diagnoses and rules come from its module of ``judging/rules/`` (attnlab's own) or from its slips
# (a course's own, `add_slips`): this module names no task.

#: task id -> the task's rules: its CaseResults (failed ones first) -> Diagnoses.
RULES: dict = {}
#: task id -> the rule for a case that raised: it names a mistake that shows only as an exception.
ERROR_RULES: dict = {}


def _add_task_rules() -> None:
    """Put each task's rules module in the catalogue, its ids ahead of the task-independent ones."""
    from . import rules

    generic, generic_titles = dict(CATALOGUE), dict(TITLES)
    CATALOGUE.clear()
    TITLES.clear()
    for module in rules.MODULES:
        CATALOGUE.update({did: (module.TASK, text) for did, text in module.CATALOGUE.items()})
        TITLES.update(module.TITLES)
        SUBSUMES.update(getattr(module, "SUBSUMES", {}))
        if hasattr(module, "RULES"):
            RULES[module.TASK] = module.RULES
        if hasattr(module, "ERROR_RULE"):
            ERROR_RULES[module.TASK] = module.ERROR_RULE
    CATALOGUE.update(generic)
    TITLES.update(generic_titles)


_add_task_rules()
