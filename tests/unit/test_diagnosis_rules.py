"""diagnose: each catalogue id named from made-up replies of a student who made that one slip.

The slips are written out here as a student would write them (plain torch, in float64, returned in the
case's dtype), not taken from ``attnlab.answers.mistakes``: a rule must recognise the student's code,
not its own model of it. ``test_catalogue_coverage`` checks that every catalogue id has its test here.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
from attnlab.judging.judge import TaskStatus

from .fakes import (
    COURSE,
    callee_call,
    cases,
    changed,
    checks_right,
    computed,
    f64,
    heatmap,
    judge_run,
    raised,
    returned_instead_of_raising,
    returns,
    right,
    said,
    student_mha,
    student_softmax,
)


def _ids(result) -> list[str]:
    return [d.id for d in result.diagnoses]


def _message(result, did: str) -> str:
    """The message of the task's diagnosis `did`, as the catalogue words it (the feedback capitalises it)."""
    (message,) = [d.message for d in result.diagnoses if d.id == did]
    return message


def _student(task_id: str, fn, the_cases=None, **options):
    """The TaskResult for a student whose function computes `fn(case)` (float64 outputs) on every value case
    and does what a careful student does on the meta device and on invalid input."""
    return judge_run(task_id, lambda c: checks_right(c, lambda c: computed(c, *fn(c))), the_cases, **options)


# ------------------------------------------------------------------------------------------- qk_scores


def _qk(case, scale=None, transposed=False):
    q, k = f64(case.tensors["q"]), f64(case.tensors["k"])
    d = q.shape[-1]
    s = (k @ q.transpose(-2, -1)) if transposed else (q @ k.transpose(-2, -1))
    return (s / (math.sqrt(d) if scale is None else scale(d)),)


def test_scores_without_the_division_by_sqrt_d_are_missing_scale():
    result = _student("qk_scores", lambda c: _qk(c, scale=lambda d: 1.0))
    assert _ids(result)[0] == "missing_scale"
    assert "wrong_scale" not in _ids(result)
    match = re.fullmatch(
        r"your scores are ([\d.]+)x the expected ones everywhere, and \1 = sqrt\((\d+)\): did you forget to divide "
        r"by sqrt\(d\)\?",
        _message(result, "missing_scale"),
    )
    assert match and float(match[1]) == pytest.approx(math.sqrt(int(match[2])), abs=0.05)
    assert result.status == TaskStatus.PARTIAL  # d = 1 cases are right either way


def test_scores_divided_by_d_are_wrong_scale_and_say_so():
    result = _student("qk_scores", lambda c: _qk(c, scale=lambda d: d))
    assert _ids(result) == ["wrong_scale"]
    assert "suggests you divided by d" in result.feedback


def test_scores_as_keys_by_queries_are_wrong_transpose_not_wrong_shape():
    result = _student("qk_scores", lambda c: _qk(c, transposed=True))
    assert "wrong_transpose" in _ids(result)
    assert "wrong_shape" not in _ids(result)
    assert _message(result, "wrong_transpose").startswith("your scores come out as keys x queries")


def test_nan_where_the_expected_scores_are_finite_is_nan_output():
    def with_nan(c):
        (s,) = _qk(c)
        s = s.clone()
        s.view(-1)[0] = float("nan")
        return (s,)

    result = _student("qk_scores", with_nan)
    assert _ids(result) == ["nan_output"]
    assert "(1 values of scores)" in result.feedback
    assert result.score == 0.0


# ---------------------------------------------------------------------------------- softmax_with_temperature


def _sm(case, **slip):
    x, T, dim = f64(case.tensors["x"]), case.extra["T"], case.extra["dim"]
    T = slip.pop("T", lambda T: T)(T)
    dim = slip.pop("dim", lambda dim: dim)(dim)
    return (student_softmax(x, T, dim, **slip),)


def test_a_softmax_that_is_always_over_the_last_dim_is_wrong_dim():
    result = _student("softmax_with_temperature", lambda c: _sm(c, dim=lambda d: -1))
    assert _ids(result) == ["wrong_dim"]
    assert _message(result, "wrong_dim").startswith("your weights sum to 1 along dim")


def test_multiplying_by_the_temperature_is_temperature_inverted():
    result = _student("softmax_with_temperature", lambda c: _sm(c, T=lambda T: 1 / T))
    assert _ids(result) == ["temperature_inverted"]


def test_a_temperature_left_out_is_temperature_ignored():
    result = _student("softmax_with_temperature", lambda c: _sm(c, T=lambda T: 1.0))
    assert _ids(result) == ["temperature_ignored"]


def test_weights_wrong_at_temperature_1_too_are_not_put_down_to_the_temperature():
    """A softmax in base 2 (exp2 without log2(e)) is softmax(x * ln 2 / T): at T = 0.7 that is nearly the T = 1
    weights, but it is wrong at T = 1 as well, where the temperature changes nothing: not temperature_ignored."""
    result = _student("softmax_with_temperature", lambda c: _sm(c, T=lambda T: T / math.log(2)))
    assert "temperature_ignored" not in _ids(result) and "temperature_inverted" not in _ids(result)


def test_exp_without_subtracting_the_maximum_is_unstable_softmax_not_nan_output():
    result = _student("softmax_with_temperature", lambda c: _sm(c, stable=False, all_masked_ok=False))
    assert "unstable_softmax" in _ids(result)
    assert "nan_output" not in _ids(result)
    assert "exp overflows for large scores" in result.feedback


def test_nan_on_a_row_that_is_entirely_minus_inf_is_fully_masked_row_nan():
    result = _student("softmax_with_temperature", lambda c: _sm(c, all_masked_ok=False))
    assert _ids(result) == ["fully_masked_row_nan"]
    (masked,) = [r for r in result.cases if r.case.probe == "full_row"]
    assert not masked.passed
    assert result.status == TaskStatus.PARTIAL


def test_returning_for_a_bad_temperature_is_accepts_invalid_temperature():
    result = judge_run(
        "softmax_with_temperature",
        lambda c: returned_instead_of_raising(c) if c.kind == "expect_error" else checks_right(c, right),
    )
    assert _ids(result) == ["accepts_invalid_temperature"]
    assert result.status == TaskStatus.PARTIAL


# ------------------------------------------------------------------------------------------ causal_mask


def _mask(case, keep):
    n = case.extra["n"]
    i, j = torch.arange(n).unsqueeze(1), torch.arange(n).unsqueeze(0)
    return (keep(i, j),)


def test_a_mask_of_the_future_is_mask_inverted():
    result = _student("causal_mask", lambda c: _mask(c, lambda i, j: j > i))
    assert _ids(result) == ["mask_inverted"]


def test_a_mask_without_its_diagonal_is_mask_diagonal_excluded():
    result = _student("causal_mask", lambda c: _mask(c, lambda i, j: j < i))
    assert _ids(result) == ["mask_diagonal_excluded"]


def test_a_seq_len_below_1_that_returns_a_mask_is_accepts_invalid_length():
    result = judge_run(
        "causal_mask", lambda c: returned_instead_of_raising(c) if c.kind == "expect_error" else checks_right(c, right)
    )
    assert _ids(result) == ["accepts_invalid_length"]
    assert "raise ValueError when seq_len is less than 1" in result.feedback


# -------------------------------------------------------------------------------------------- attention


def _attention(case, fill=None, after=False):
    """attention with the mask applied as `fill(scores, mask)` before the softmax, or after it (`after`)."""
    q, k, v = (f64(case.tensors[n]) for n in "qkv")
    mask, T = case.extra.get("mask"), case.extra["T"]
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None and not after:
        s = fill(s, mask)
    w = student_softmax(s, T, -1)
    if mask is not None and after:
        w = w * mask
    return w @ v, w


def test_weights_times_the_mask_after_the_softmax_are_mask_after_softmax():
    result = _student("attention", lambda c: _attention(c, after=True))
    assert _ids(result) == ["mask_after_softmax"]
    assert "a row then sums to" in result.feedback


def test_hidden_scores_set_to_zero_are_mask_fill_zero():
    result = _student("attention", lambda c: _attention(c, lambda s, m: s.masked_fill(~m, 0.0)))
    assert _ids(result) == ["mask_fill_zero"]


def test_hiding_the_keys_the_mask_allows_is_mask_polarity():
    result = _student("attention", lambda c: _attention(c, lambda s, m: s.masked_fill(m, float("-inf"))))
    assert _ids(result)[0] == "mask_polarity"
    assert set(_ids(result)) <= {"mask_polarity", "nan_output"}


def _right_without_a_graph(case):
    meta, tensors = checks_right(case, right)
    if case.expected_grads:
        meta["grads"] = {"status": "no_graph", "names": list(case.expected_grads), "present": []}
    return meta, tensors


def test_right_values_without_a_graph_are_no_gradient():
    result = judge_run("attention", _right_without_a_graph)
    assert _ids(result) == ["no_gradient"]
    assert _message(result, "no_gradient").startswith("no gradient reaches q, k and v:")
    graded = [r for r in result.cases if r.case.expected_grads]
    assert graded and not any(r.passed for r in graded)


def _grads_reply(case, scale: dict):
    """Right values and gradients, each gradient times `scale.get(name, 1)` (0: not sent at all)."""
    meta, tensors = checks_right(case, right)
    if case.expected_grads:
        names = list(case.expected_grads)
        present = [n for n in names if scale.get(n, 1) != 0]
        meta["grads"] = {"status": "ok", "names": names, "present": present}
        for n in present:
            tensors[f"grad.{n}"] = (scale.get(n, 1) * case.expected_grads[n]).to(case.tensors["q"].dtype)
    return meta, tensors


def test_a_gradient_that_does_not_reach_k_is_no_gradient_for_k():
    result = judge_run("attention", lambda c: _grads_reply(c, {"arg.1": 0}))
    assert _ids(result) == ["no_gradient"]
    assert _message(result, "no_gradient").startswith("no gradient reaches k:")


def test_a_wrong_gradient_with_right_values_is_gradient_mismatch():
    result = judge_run("attention", lambda c: _grads_reply(c, {"arg.2": 2.0}))
    assert _ids(result) == ["gradient_mismatch"]
    assert "the gradient of v is off by up to" in result.feedback  # the contract's name, as no_gradient says it
    assert result.status == TaskStatus.PARTIAL


def test_right_gradients_pass():
    result = judge_run("attention", lambda c: _grads_reply(c, {}))
    assert result.status == TaskStatus.PASSED, result.feedback


# ------------------------------------------------------------------------------------- multi_head_attention


def test_the_student_mha_without_slips_passes():
    result = _student("multi_head_attention", student_mha)
    assert result.status == TaskStatus.PASSED, result.feedback


def test_heads_split_by_a_plain_view_are_heads_split_without_transpose():
    result = _student("multi_head_attention", lambda c: student_mha(c, split_without_transpose=True))
    assert _ids(result) == ["heads_split_without_transpose"]
    (h1,) = [r for r in result.cases if r.case.probe == "H=1"]
    assert h1.passed


def test_no_w_o_at_the_end_is_missing_output_projection():
    result = _student("multi_head_attention", lambda c: student_mha(c, skip_out=True))
    assert _ids(result) == ["missing_output_projection"]
    (identity,) = [r for r in result.cases if r.case.probe == "W_o=I"]
    assert identity.passed


def test_scores_scaled_by_d_model_are_scale_by_d_model():
    result = _student("multi_head_attention", lambda c: student_mha(c, scale_by_d_model=True))
    assert _ids(result) == ["scale_by_d_model"]
    assert "1/sqrt(d_model) = 1/sqrt(16)" in result.feedback


def test_weights_averaged_over_heads_are_weights_averaged_not_wrong_shape():
    result = _student("multi_head_attention", lambda c: student_mha(c, average_weights=True))
    assert _ids(result) == ["weights_averaged"]
    assert "the average over heads" in result.feedback

    # the control: one head's weights have that shape too, and are the average where there is one head only
    def last_head(c):
        out, w = student_mha(c)
        return out, w[:, -1]

    control = _student("multi_head_attention", last_head)
    assert "weights_averaged" not in _ids(control), control.feedback


# ------------------------------------------------------------------------------------------ plot_attention


def _plot_task(draw):
    """The plot task judged for a student whose figure for each case is `draw(weights (L, S), q, k)`."""

    def answer(c):
        w = c.expected[0].numpy()
        meta, arrays = draw(w, c.extra["query_tokens"], c.extra["key_tokens"])
        reply = {"status": "ok", "figure": meta, "drew_on_given_ax": True, "forbidden": [], "evasion": False}
        return reply, {f"fig.{n}": torch.as_tensor(a, dtype=torch.float64) for n, a in arrays.items()}

    return judge_run("plot_attention", answer)


def test_a_heatmap_of_other_numbers_is_plot_wrong_data():
    result = _plot_task(lambda w, q, k: heatmap(w**2, k, q))
    assert _ids(result) == ["plot_wrong_data"]
    assert result.score == 0.0


def test_a_heatmap_without_tick_labels_is_plot_missing_labels():
    result = _plot_task(lambda w, q, k: heatmap(w, [], []))
    assert _ids(result) == ["plot_missing_labels"]


def test_a_heatmap_without_a_colorbar_is_plot_missing_colorbar():
    result = _plot_task(lambda w, q, k: heatmap(w, k, q, colorbar=False))
    assert _ids(result) == ["plot_missing_colorbar"]


def test_a_right_heatmap_passes_the_plot_task():
    result = _plot_task(lambda w, q, k: heatmap(w, k, q))
    assert result.status == TaskStatus.PASSED, result.feedback


# -------------------------------------------------------------------------------------------- any task


def test_an_extra_dimension_is_wrong_shape():
    result = _student("qk_scores", lambda c: (torch.cat([_qk(c)[0], _qk(c)[0][..., :1]], -1).unsqueeze(0),))
    assert _ids(result) == ["wrong_shape"]  # an extra key column too: no relation the describer knows
    assert result.score == 0.0


def test_float64_outputs_for_float32_inputs_are_wrong_dtype():
    def widened(c):
        meta, tensors = returns(c.expected[0])  # float64 whatever the inputs were
        return meta, tensors

    result = judge_run("qk_scores", lambda c: checks_right(c, widened))
    assert _ids(result) == ["wrong_dtype"]
    assert "is float64, expected float32" in result.feedback
    float64 = [r for r in result.cases if r.case.dtype == "float64" and r.case.kind == "call"]
    assert float64 and all(r.passed for r in float64)


def test_an_output_on_another_device_is_wrong_device():
    def on_cuda(c):
        meta, tensors = right(c)
        meta["outputs"][0]["device"] = "cuda"
        return meta, tensors

    result = judge_run("qk_scores", lambda c: checks_right(c, on_cuda))
    assert _ids(result) == ["wrong_device"]
    assert "scores is on cuda, expected cpu" in result.feedback


def test_an_output_made_on_the_cpu_from_meta_inputs_is_wrong_device():
    made_on_cpu = {"status": "ok", "meta_run": {"devices": ["cpu"]}}
    result = judge_run(
        "causal_mask", lambda c: (made_on_cpu, {}) if c.kind == "meta_device" else checks_right(c, right)
    )
    assert _ids(result) == ["wrong_device"]
    assert "your mask was made on the CPU while device= asked for another device: make new tensors with device=" in (
        result.feedback
    )
    assert "meta" not in result.feedback  # a student does not know the grader's stand-in for a GPU


def test_a_cpu_tensor_mixed_with_the_inputs_says_which_op_in_a_students_words():
    mixing = {
        "status": "ok",
        "meta_run": {"error": {"type": "RuntimeError", "msg": "matmul mixes tensors on different devices: cpu, meta"}},
    }
    result = judge_run("qk_scores", lambda c: (mixing, {}) if c.kind == "meta_device" else checks_right(c, right))
    assert _ids(result) == ["wrong_device"]
    assert "`matmul` mixed a tensor made on the CPU with one elsewhere, since the inputs were on another device" in (
        result.feedback
    )


def test_an_input_changed_in_place_is_mutates_input():
    result = judge_run("softmax_with_temperature", lambda c: checks_right(c, changed(right, mutated=[0])))
    assert _ids(result) == ["mutates_input"]
    assert "changed its input scores in place" in result.feedback
    values = [r for r in result.cases if r.case.kind == "call"]
    assert not any(r.passed for r in values)


def test_torch_refusing_an_in_place_change_is_mutates_input_not_an_exception():
    error = raised("RuntimeError", "a leaf Variable that requires grad is being used in an in-place operation.")
    result = judge_run("qk_scores", lambda c: error if c.expected_grads else checks_right(c, right))
    assert _ids(result) == ["mutates_input"]


def test_a_list_returned_for_a_tensor_is_non_tensor_output():
    def a_list(c):
        meta, tensors = right(c)
        meta["outputs"] = [{"kind": "other", "type": "list"}]
        return meta, {}

    result = judge_run("qk_scores", lambda c: checks_right(c, a_list))
    assert _ids(result) == ["non_tensor_output"]
    assert "you returned a list where a torch.Tensor for scores was expected" in result.feedback


def test_attention_returning_only_the_output_is_non_tensor_output():
    result = judge_run("attention", lambda c: checks_right(c, lambda c: returns(right(c)[1]["out.0"])))
    assert _ids(result) == ["non_tensor_output"]
    assert "where a tuple (output, weights) was expected" in result.feedback


def test_a_forbidden_call_is_forbidden_call():
    result = judge_run("softmax_with_temperature", lambda c: checks_right(c, changed(right, forbidden=["softmax"])))
    assert _ids(result) == ["forbidden_call"]


def test_right_values_with_no_trace_are_detector_tampered():
    def untraced(c):
        meta, tensors = right(c)
        meta["trace"] = {"ops": [], "dispatch": 0, "function": 0}
        return meta, tensors

    result = judge_run("qk_scores", lambda c: checks_right(c, untraced))
    assert _ids(result) == ["detector_tampered"]


def test_a_stub_is_not_implemented():
    stub = raised("NotImplementedError", "", frames=("softmax_with_temperature",))
    result = judge_run("softmax_with_temperature", lambda c: stub)
    assert _ids(result) == ["not_implemented"]


def test_an_unknown_exception_is_exception():
    result = judge_run("softmax_with_temperature", lambda c: checks_right(c, lambda c: raised("KeyError", "'dim'")))
    assert _ids(result) == ["exception"]


def test_a_timeout_is_timeout():
    failure = {"status": "timeout", "case": "the first case", "seconds": 10}
    result = judge_run("causal_mask", lambda c: said("timeout"), failure=failure)
    assert _ids(result) == ["timeout"]


def test_values_off_in_no_known_way_are_wrong_values():
    noise = torch.Generator().manual_seed(3)
    result = _student(
        "softmax_with_temperature", lambda c: (_sm(c)[0] + 0.5 * torch.rand(c.expected[0].shape, generator=noise),)
    )
    assert _ids(result) == ["wrong_values"]
    assert "values are off; the largest error is 0.4" in result.feedback


def test_a_crash_is_crashed():
    result = judge_run("causal_mask", lambda c: said("crashed"))
    assert _ids(result) == ["crashed"]


def test_no_function_at_all_is_missing():
    result = judge_run("causal_mask", lambda c: None, failure={"status": "missing", "load": ""})
    assert _ids(result) == ["missing"]


def test_zeros_everywhere_are_constant_output():
    result = _student("qk_scores", lambda c: (torch.zeros_like(c.expected[0]),))
    assert _ids(result) == ["constant_output"]


# ------------------------------------------------------------------------------------ callee_failed, blocked


def _attention_with_scores(case, scores):
    """attention as the reference computes it, from `scores` (the student's qk_scores), with the call recorded."""
    q, k, v = (f64(case.tensors[n]) for n in "qkv")
    mask, T = case.extra.get("mask"), case.extra["T"]
    s = scores if mask is None else scores.masked_fill(~mask, float("-inf"))
    w = student_softmax(s, T, -1)
    meta, tensors = computed(case, w @ v, w)
    dt = case.tensors["q"].dtype
    meta["callee_calls"] = [callee_call(tensors, 0, "qk_scores", [case.tensors["q"], case.tensors["k"]], scores.to(dt))]
    return meta, tensors


def test_a_caller_right_but_for_its_wrong_callee_is_callee_failed():
    def answer(c):
        q, k = f64(c.tensors["q"]), f64(c.tensors["k"])
        if c.id == "v0":  # the caller's own slip on this one case: its output doubled
            return computed(c, 2 * c.expected[0], c.expected[1])
        return _attention_with_scores(c, q @ k.transpose(-2, -1))  # qk_scores without the scale

    result = judge_run("attention", lambda c: checks_right(c, answer), callee_status={"qk_scores": "partial"})
    assert "callee_failed" in _ids(result)
    assert _message(result, "callee_failed").startswith(
        "attention would be right with a correct qk_scores: fix qk_scores first."
    )


def test_without_the_reference_a_caller_fed_by_a_wrong_callee_is_blocked_not_wrong_values():
    """The student build cannot replay the callee through the reference (its cases have no `recompute`): a caller
    case that called a failing callee is not called wrong there, it waits for the callee to be fixed."""
    import dataclasses

    public = [dataclasses.replace(c, recompute=None) for c in cases("attention")]

    def answer(c):
        q, k = f64(c.tensors["q"]), f64(c.tensors["k"])
        return _attention_with_scores(c, q @ k.transpose(-2, -1))  # qk_scores without the scale

    result = judge_run("attention", lambda c: checks_right(c, answer), public, callee_status={"qk_scores": "partial"})
    assert "wrong_values" not in _ids(result) and "blocked_by_callee" in _ids(result)
    assert "because your qk_scores is wrong there: fix qk_scores first." in _message(result, "blocked_by_callee")


def test_a_callee_that_raised_inside_the_caller_is_blocked_by_callee():
    inner = raised("RuntimeError", "shapes cannot be multiplied", frames=("attention", "qk_scores"))
    result = judge_run(
        "attention",
        lambda c: checks_right(c, lambda c: inner),
        callee_status={"qk_scores": "error"},
        uses={"qk_scores"},
    )
    assert _ids(result) == ["blocked_by_callee"]
    n = len([c for c in cases("attention") if c.kind == "call"])
    assert _message(result, "blocked_by_callee") == (
        f"attention could not be checked on {n} case(s) because your qk_scores raised an error there: fix qk_scores "
        "first."
    )


@pytest.mark.parametrize("task_id", ["qk_scores", "softmax_with_temperature", "causal_mask", "attention"])
def test_the_reference_itself_gets_no_diagnosis(task_id):
    result = judge_run(task_id, lambda c: checks_right(c, right))
    assert result.status == TaskStatus.PASSED and _ids(result) == []
    assert result.score == COURSE.task(task_id).points


# ------------------------------------------------------------------------------------- positional_encoding
# A student's encodings, written out: the angle of column pair i is pos / base^(2i / d_model).


def _pe(case, base=10000.0, swapped=False, transposed=False, pair_index=False):
    L, d = case.extra["seq_len"], case.extra["d_model"]
    pos = torch.arange(L, dtype=torch.float64).unsqueeze(1)  # (L, 1)
    i = torch.arange(d // 2, dtype=torch.float64)  # the pair index
    angle = pos / base ** ((i if pair_index else 2 * i) / d)  # (L, d / 2)
    first, second = (torch.cos, torch.sin) if swapped else (torch.sin, torch.cos)
    pe = torch.zeros(L, d, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = first(angle), second(angle)
    return (pe.T.contiguous() if transposed else pe,)


def test_the_students_encoding_without_slips_passes():
    result = _student("positional_encoding", _pe)
    assert result.status == TaskStatus.PASSED and _ids(result) == [], result.feedback


def test_cos_in_the_even_columns_is_pe_sin_cos_swapped():
    result = _student("positional_encoding", lambda c: _pe(c, swapped=True))
    assert _ids(result) == ["pe_sin_cos_swapped"]
    assert "position 0 reads 0, 1, 0, 1" in result.feedback


def test_the_pair_index_without_its_2_is_pe_wrong_base_100():
    result = _student("positional_encoding", lambda c: _pe(c, pair_index=True))
    assert _ids(result) == ["pe_wrong_base"]
    assert _message(result, "pe_wrong_base").startswith("your frequencies fall off as if their base were 100, not")
    assert "did you drop the 2 of 2i?" in result.feedback


def test_a_base_of_1000_is_pe_wrong_base_without_the_hint_about_the_2():
    result = _student("positional_encoding", lambda c: _pe(c, base=1000.0))
    assert _ids(result) == ["pe_wrong_base"] and "base were 1000," in result.feedback
    assert "drop the 2" not in result.feedback


def test_features_by_positions_is_pe_transposed_not_wrong_shape():
    result = _student("positional_encoding", lambda c: _pe(c, transposed=True))
    assert _ids(result) == ["pe_transposed"]
    (square,) = [r for r in result.cases if r.case.id == "v4"]
    assert not square.passed  # 16 x 16: the shape is right, the values are not
    assert "one column per position" in result.feedback


# -------------------------------------------------------------------------------------- kv_cache_attention
# A student's cache, written out: which keys each new token sees, call by call.


def _kv(case, sees=lambda key, first, last, pos: key <= pos):
    """(output (B, T, d), weights (B, T, T)) of a cache whose token at `pos`, in a call over [first, last), sees
    the keys where `sees(key, first, last, pos)`."""
    st = {k: f64(v) for k, v in case.extra["state"].items()}
    x = f64(case.extra["x"])

    def lin(name, t):
        return torch.nn.functional.linear(t, st[f"{name}.weight"], st.get(f"{name}.bias"))

    q, k, v = lin("W_q", x), lin("W_k", x), lin("W_v", x)  # (B, T, d)
    T, visible, start = x.shape[1], [], 0
    for n in case.extra["steps"]:
        key = torch.arange(T)
        visible += [sees(key, start, start + n, pos) for pos in range(start, start + n)]
        start += n
    scores = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(~torch.stack(visible), float("-inf"))
    w = student_softmax(scores)
    return w @ v, w


def test_the_students_cache_without_slips_passes():
    result = _student("kv_cache_attention", _kv)
    assert result.status == TaskStatus.PASSED and _ids(result) == [], result.feedback


def test_attending_before_appending_is_cache_attend_before_append():
    def before(key, first, last, pos):
        return key <= pos if first == 0 else key < first  # the prompt is right; later calls miss themselves

    result = _student("kv_cache_attention", lambda c: _kv(c, before))
    assert _ids(result) == ["cache_attend_before_append"]
    (whole,) = [r for r in result.cases if r.case.extra.get("steps") == [5]]
    assert whole.passed  # one call: nothing was cached before it


def test_a_prompt_without_its_mask_is_cache_sees_future():
    result = _student("kv_cache_attention", lambda c: _kv(c, lambda key, first, last, pos: key < last))
    assert _ids(result) == ["cache_sees_future"]
    ones = [r for r in result.cases if r.case.kind == "module" and max(r.case.extra["steps"]) == 1]
    assert ones and all(r.passed for r in ones)  # one token per call has no future to see


def test_keys_projected_again_at_every_call_are_cache_recomputes():
    def recomputing(case):
        meta, tensors = computed(case, *_kv(case))
        starts = [sum(case.extra["steps"][: i + 1]) for i in range(len(case.extra["steps"]))]
        meta["projected"] = {"W_q": case.extra["tokens"], "W_k": sum(starts), "W_v": sum(starts)}
        return meta, tensors

    result = judge_run("kv_cache_attention", lambda c: checks_right(c, recomputing))
    assert _ids(result) == ["cache_recomputes"]
    assert "your W_k and W_v projected 18 tokens for a sequence of 6" in result.feedback
    (whole,) = [r for r in result.cases if r.case.extra.get("steps") == [5]]
    assert whole.passed  # one call projects each token once either way


def test_projection_counts_that_are_not_numbers_say_nothing():
    def odd(case):
        meta, tensors = computed(case, *_kv(case))
        meta["projected"] = {"W_k": "many", "W_v": True, "W_q": 10**9}
        return meta, tensors

    result = judge_run("kv_cache_attention", lambda c: checks_right(c, odd))
    assert result.status == TaskStatus.PASSED, result.feedback
