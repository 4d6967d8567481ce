"""judge: the callee replay, from made-up replies that record the student's callee calls (no worker).

A caller task that fails only because a callee it calls is wrong is not charged: the parent replays the
student's own callee results through the reference caller (``attnlab.answers.replay``), and a case that then
matches passes, ``inherited_from`` the callee. The replay works on copies of the reference functions
(``rebound``): the reference itself is never patched, so it still computes the reference answer.
"""

from __future__ import annotations

import math

import attnlab.reference as ref
import pytest
import torch
from attnlab.answers.replay import Replay, rebound
from attnlab.judging.judge import NOT_GRADED, TaskStatus

from .fakes import (
    COURSE,
    callee_call,
    cases,
    checks_right,
    computed,
    f64,
    judge_run,
    raised,
    student_mha,
    student_softmax,
)

POINTS = COURSE.task("attention").points
#: The reference functions as they were before any test here ran.
ORIGINAL = {name: getattr(ref, name) for name in ("qk_scores", "softmax_with_temperature", "causal_mask", "attention")}


def unscaled(q, k):
    """The student's qk_scores: no division by sqrt(d)."""
    return q @ k.transpose(-2, -1)


def right_scores(q, k):
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])


def student_attention(case, qk=unscaled, fill=None, own_slip=None, own_softmax=True, mask_after=False):
    """The reply of a student's attention that calls their own `qk` and (with `own_softmax`) their own, right,
    softmax_with_temperature, with the calls recorded as the worker records them (without it, the softmax is
    written inline). `fill(scores, mask)` hides the keys (default: -inf where the mask is False); with
    `mask_after`, the mask is put on the weights after the softmax instead; `own_slip(output)` is a mistake in
    attention itself."""
    dt = case.tensors["q"].dtype
    q, k, v = (case.tensors[n] for n in "qkv")
    mask, T = case.extra.get("mask"), case.extra["T"]
    scores = qk(f64(q), f64(k)).to(dt)  # what the student's qk_scores returned, in the inputs' dtype
    s = f64(scores)
    if mask is not None and not mask_after:
        s = fill(s, mask) if fill else s.masked_fill(~mask, float("-inf"))
    w = student_softmax(s, T, -1)
    softmaxed = w
    if mask is not None and mask_after:
        w = w * mask
    out = w @ f64(v)
    if own_slip:
        out = own_slip(out)
    meta, tensors = computed(case, out, w)
    meta["callee_calls"] = [callee_call(tensors, 0, "qk_scores", [q, k], scores)]
    if own_softmax:
        meta["callee_calls"].append(
            callee_call(tensors, 1, "softmax_with_temperature", [s.to(dt), T, -1], softmaxed.to(dt))
        )
    return meta, tensors


def _attention(answer, **options):
    return judge_run("attention", lambda c: checks_right(c, answer), **options)


def _value_cases(result):
    return [r for r in result.cases if r.case.kind == "call"]


# ------------------------------------------------------------------------------------------- attention


def test_a_case_wrong_only_because_of_qk_scores_is_passed_and_inherited_from_it():
    result = _attention(student_attention, callee_status={"qk_scores": "partial"})
    values = _value_cases(result)
    assert values and all(r.passed and r.inherited == "qk_scores" for r in values)
    assert {c["inherited_from"] for c in result.to_json()["cases"] if "inherited_from" in c} == {"qk_scores"}
    assert all(c["status"] == "passed" for c in result.to_json()["cases"])
    assert result.status == TaskStatus.PASSED and result.score == POINTS


def test_with_a_mistake_of_its_own_the_caller_says_callee_failed_and_loses_only_that_case():
    def answer(c):
        return student_attention(c, own_slip=(lambda out: 2 * out) if c.id == "v0" else None)

    result = _attention(answer, callee_status={"qk_scores": "failed"})
    ids = [d.id for d in result.diagnoses]
    assert "callee_failed" in ids and "scaled_values" in ids  # its own slip, against what the replay expects
    assert "your output is 2 times the expected one everywhere" in result.feedback.lower()
    (callee_failed,) = [d for d in result.diagnoses if d.id == "callee_failed"]
    assert callee_failed.message == (
        "attention would be right with a correct qk_scores: fix qk_scores first. No points are taken here for it."
    )
    inherited = [r for r in _value_cases(result) if r.inherited]
    assert len(inherited) == len(_value_cases(result)) - 1 and all(r.passed for r in inherited)
    own = next(r for r in result.cases if r.case.id == "v0")
    assert not own.passed and not own.inherited
    n = len(result.cases)
    assert result.status == TaskStatus.PARTIAL and result.score == pytest.approx(POINTS * (n - 1) / n)


def test_a_callee_the_run_does_not_grade_is_replayed_and_nothing_is_said_of_it():
    """Lesson 3's attention calls lesson 1's qk_scores, which the lesson's run does not grade: the grader's
    stand-in, or the student's own. Its results are replayed, and attention is graded on its own work."""
    result = _attention(student_attention, callee_status={"qk_scores": NOT_GRADED})
    assert all(r.passed and r.inherited == "qk_scores" for r in _value_cases(result))
    assert result.status == TaskStatus.PASSED and result.score == POINTS
    assert "callee_failed" not in [d.id for d in result.diagnoses]

    def slipped(c):
        return student_attention(c, own_slip=(lambda out: 2 * out) if c.id == "v0" else None)

    result = _attention(slipped, callee_status={"qk_scores": NOT_GRADED})
    assert [d.id for d in result.diagnoses] == ["scaled_values"]  # its own slip, and no word of qk_scores
    assert result.status == TaskStatus.PARTIAL


@pytest.mark.parametrize("status", [{}, {"qk_scores": "passed"}], ids=["absent", "passed"])
def test_without_a_failing_callee_the_same_values_are_charged(status):
    result = _attention(student_attention, callee_status=status)
    assert not any(r.inherited for r in result.cases)
    assert result.status == TaskStatus.FAILED and result.score == 0.0
    assert "callee_failed" not in [d.id for d in result.diagnoses]


def _fill_zero_on_top_of_unscaled_scores(own_softmax: bool):
    def answer(c):
        return student_attention(c, fill=lambda s, m: s.masked_fill(~m, 0.0), own_softmax=own_softmax)

    return _attention(answer, callee_status={"qk_scores": "partial"})


def test_a_caller_slip_on_top_of_a_wrong_callee_is_still_charged():
    result = _fill_zero_on_top_of_unscaled_scores(own_softmax=False)
    masked = [r for r in _value_cases(result) if r.case.extra.get("mask") is not None]
    assert masked and not any(r.passed or r.inherited for r in masked)
    unmasked = [r for r in _value_cases(result) if r.case.extra.get("mask") is None]
    assert unmasked and all(r.inherited == "qk_scores" for r in unmasked)
    assert result.status == TaskStatus.PARTIAL


def test_a_caller_slip_on_top_of_a_wrong_callee_is_charged_and_named_when_it_calls_its_own_softmax_too():
    result = _fill_zero_on_top_of_unscaled_scores(own_softmax=True)
    masked = [r for r in _value_cases(result) if r.case.extra.get("mask") is not None]
    assert masked and not any(r.passed or r.inherited for r in masked)
    # Its own slip is charged and named: the mistake model is rebuilt through the same replayed callees (the
    # student's own scores), and how far off it is is measured from what those callees make right.
    ids = [d.id for d in result.diagnoses]
    assert "mask_fill_zero" in ids and "callee_failed" in ids and "wrong_values" not in ids, ids
    assert all(r.replayed and set(r.replayed) == {"qk_scores", "softmax_with_temperature"} for r in masked)


@pytest.mark.parametrize("slip, named", [("zero", "mask_fill_zero"), ("after", "mask_after_softmax")])
def test_with_an_earlier_lessons_callee_a_slip_of_its_own_is_named_through_the_replay(slip, named):
    """Lesson 3: qk_scores is lesson 1's, never graded here (often the grader's stand-in)."""

    def answer(c):
        if slip == "zero":
            return student_attention(c, fill=lambda s, m: s.masked_fill(~m, 0.0))
        return student_attention(c, mask_after=True)

    result = _attention(answer, callee_status={"qk_scores": NOT_GRADED})
    assert named in [d.id for d in result.diagnoses] and "callee_failed" not in [d.id for d in result.diagnoses]


def test_the_replay_leaves_the_reference_as_it_was():
    _attention(student_attention, callee_status={"qk_scores": "partial"})
    assert {name: getattr(ref, name) for name in ORIGINAL} == ORIGINAL
    assert ref.attention.__globals__["qk_scores"] is ORIGINAL["qk_scores"]
    assert ref.attention.__globals__["softmax_with_temperature"] is ORIGINAL["softmax_with_temperature"]
    for c in cases("attention"):
        if c.kind != "call":
            continue
        q, k, v = (f64(c.tensors[n]) for n in "qkv")
        out, w = ref.attention(q, k, v, c.extra.get("mask"), c.extra["T"])
        assert torch.equal(out, c.expected[0]) and torch.equal(w, c.expected[1]), c.id
        assert all(torch.equal(a, b) for a, b in zip(c.recompute(), c.expected)), c.id


def test_the_reference_is_the_reference_while_a_replay_runs():
    (c,) = [c for c in cases("attention") if c.id == "v1"]
    q, k, v = (f64(c.tensors[n]) for n in "qkv")
    mask, T = c.extra["mask"], c.extra["T"]
    seen = []

    def spy(a, b):  # the replayed qk_scores: meanwhile, anyone else calling the reference gets the reference
        seen.append(ref.attention.__globals__["qk_scores"] is ORIGINAL["qk_scores"])
        out, w = ref.attention(q, k, v, mask, T)
        seen.append(torch.equal(out, c.expected[0]) and torch.equal(w, c.expected[1]))
        return unscaled(a, b)

    replayed = rebound(ref.attention, {"qk_scores": spy})
    assert replayed is not ref.attention
    out, w = replayed(q, k, v, mask, T)
    assert seen == [True, True]
    want = student_softmax(unscaled(q, k).masked_fill(~mask, float("-inf")), T, -1)
    assert torch.allclose(w, want) and not torch.allclose(w, c.expected[1])


def test_the_replay_finds_the_recorded_call_by_its_tensor_arguments():
    (c,) = [c for c in cases("attention") if c.id == "v1"]
    meta, tensors = student_attention(c)
    replay = Replay(meta["callee_calls"], tensors)
    q, k = f64(c.tensors["q"]), f64(c.tensors["k"])
    assert torch.equal(replay.lookup("qk_scores", [q, k]), f64(tensors["callee.0.out.0"]))
    assert replay.lookup("qk_scores", [k, q]) is None  # other arguments: not this call
    assert torch.equal(replay.functions()["qk_scores"](k, q), ORIGINAL["qk_scores"](k, q))  # the reference instead


def _one_call(name: str, args: list, result, kwargs: dict | None = None) -> Replay:
    tensors: dict = {}
    call = callee_call(tensors, 0, name, args, result)
    for key, value in (kwargs or {}).items():
        tensors[f"callee.0.kw.{key}"] = value if isinstance(value, torch.Tensor) else None
        call["kwargs"][key] = {"t": f"callee.0.kw.{key}"} if isinstance(value, torch.Tensor) else {"v": value}
    return Replay([call], {k: v for k, v in tensors.items() if v is not None})


def test_the_replay_matches_the_temperature_and_the_dim_too():
    """A caller that passed its softmax another temperature or dim than the reference's gets the reference's answer
    for what it should have passed, so its own slip is charged (a wrong caller used to pass the replay)."""
    s = torch.randn(3, 5, dtype=torch.float64)
    theirs = torch.softmax(s, dim=-2)
    assert (
        _one_call("softmax_with_temperature", [s], theirs, {"dim": -2}).lookup("softmax_with_temperature", (s, 1.0, -1))
        is None
    )
    assert (
        _one_call("softmax_with_temperature", [s, 1.0], theirs).lookup("softmax_with_temperature", (s, 0.5, -1)) is None
    )
    # the control: the same arguments, however spelled (dim=1 is dim=-1 here, 1 is 1.0), find the call
    for args, kwargs in (([s], {}), ([s, 1], {"dim": 1}), ([s], {"temperature": 1.0, "dim": -1})):
        got = _one_call("softmax_with_temperature", args, theirs, kwargs).lookup(
            "softmax_with_temperature", (s, 1.0, -1)
        )
        assert got is not None and torch.equal(got, theirs), (args, kwargs)


def test_the_replay_matches_the_mask_by_its_values():
    q, k, v = (torch.randn(2, 4, 8, dtype=torch.float64) for _ in range(3))
    mask = ref.causal_mask(4)
    out = (torch.randn(2, 4, 8, dtype=torch.float64), torch.rand(2, 4, 4, dtype=torch.float64))
    wanted = (q, k, v, mask, 1.0)
    assert _one_call("attention", [q, k, v], out).lookup("attention", wanted) is None  # the mask left out
    assert _one_call("attention", [q, k, v, mask[:, :]], out).lookup("attention", wanted) is not None  # control
    assert _one_call("attention", [q, k, v, mask.view(1, 1, 4, 4)], out).lookup("attention", wanted) is not None
    assert _one_call("attention", [q, k, v, ~mask], out).lookup("attention", wanted) is None
    assert _one_call("attention", [q, k, v, None], out).lookup("attention", (q, k, v, None, 1.0)) is not None
    assert (
        _one_call("attention", [q, k, v, torch.ones(4, 4, dtype=torch.bool)], out).lookup(
            "attention", (q, k, v, None, 1.0)
        )
        is not None
    )  # a mask that hides nothing is no mask


def test_rebound_refuses_a_callee_the_reference_does_not_have():
    with pytest.raises(KeyError, match="no callee 'plot_attention'"):
        rebound(ref.attention, {"plot_attention": lambda *a: None})


# ---------------------------------------------------------------------------------- multi_head_attention


def _diagonal_excluded(L):
    return torch.ones(L, L, dtype=torch.bool).tril(-1)


def student_mha_with_own_mask(case):
    """MultiHeadAttention that calls the student's causal_mask, which hides each token from itself."""
    out, w = student_mha(case, causal_mask=_diagonal_excluded)
    meta, tensors = computed(case, out, w)
    if case.extra["causal"]:
        L = case.extra["x"].shape[1]
        meta["callee_calls"] = [callee_call(tensors, 0, "causal_mask", [L], _diagonal_excluded(L))]
    return meta, tensors


def test_a_module_case_wrong_only_because_of_causal_mask_is_inherited_from_it():
    result = judge_run(
        "multi_head_attention",
        lambda c: checks_right(c, student_mha_with_own_mask),
        callee_status={"causal_mask": "failed"},
    )
    causal = [r for r in result.cases if r.case.kind == "module" and r.case.extra["causal"]]
    assert causal and all(r.passed and r.inherited == "causal_mask" for r in causal)
    assert result.status == TaskStatus.PASSED and result.score == COURSE.task("multi_head_attention").points


def test_a_callee_mask_that_broadcasts_is_replayed_as_the_student_s_own():
    """A causal_mask that returns one row of True (1, L), which broadcasts, is what the student's module used: the
    module is right given it, so the mask's task is charged, not the module (the replay once dropped a callee
    result of another shape than the reference's, and named weight_where_none in the module)."""

    def row_of_trues(L):
        return torch.ones(1, L, dtype=torch.bool)

    def student(case):
        out, w = student_mha(case, causal_mask=row_of_trues)
        meta, tensors = computed(case, out, w)
        if case.extra["causal"]:
            L = case.extra["x"].shape[1]
            meta["callee_calls"] = [callee_call(tensors, 0, "causal_mask", [L], row_of_trues(L))]
        return meta, tensors

    result = judge_run(
        "multi_head_attention", lambda c: checks_right(c, student), callee_status={"causal_mask": "failed"}
    )
    causal = [r for r in result.cases if r.case.kind == "module" and r.case.extra["causal"]]
    assert causal and all(r.passed and r.inherited == "causal_mask" for r in causal)
    control = judge_run("multi_head_attention", lambda c: checks_right(c, student))  # the mask's task passed
    assert not any(r.passed for r in control.cases if r.case.kind == "module" and r.case.extra["causal"])


def test_the_same_module_without_a_failing_callee_is_charged():
    result = judge_run("multi_head_attention", lambda c: checks_right(c, student_mha_with_own_mask))
    causal = [r for r in result.cases if r.case.kind == "module" and r.case.extra["causal"]]
    assert causal and not any(r.passed for r in causal)
    assert result.status == TaskStatus.PARTIAL


# ------------------------------------------------------------------------------- blocked by a callee


def test_a_callee_that_returned_the_wrong_dtype_before_the_caller_raised_blocks_the_case():
    def answer(c):
        if c.dtype == "float64":  # float64 scores are right for float64 inputs: the caller goes on
            return student_attention(c, qk=right_scores)
        meta, tensors = raised("RuntimeError", "expected scalar type Float but found Double", frames=("attention",))
        q, k = c.tensors["q"], c.tensors["k"]
        wrong = right_scores(f64(q), f64(k))  # float64 whatever the inputs are
        meta["callee_calls"] = [callee_call(tensors, 0, "qk_scores", [q, k], wrong)]
        return meta, tensors

    result = _attention(answer, callee_status={"qk_scores": "partial"})
    blocked = [r for r in _value_cases(result) if r.blocked_by]
    assert blocked and all(r.blocked_by == "qk_scores" for r in blocked)
    assert len(blocked) == len([r for r in _value_cases(result) if r.case.dtype != "float64"])
    assert [d.id for d in result.diagnoses] == ["blocked_by_callee"]
    assert f"on {len(blocked)} case(s) because your qk_scores returned float64 for float" in (
        result.diagnoses[0].message
    )
    assert result.status == TaskStatus.PARTIAL
