"""judge: credit for cases that check no values, and placeholders named as such (made-up replies)."""

from __future__ import annotations

import matplotlib
import numpy as np
import torch
from attnlab.judging.case import Case
from attnlab.judging.judge import judge_task

from .fakes import COURSE, cases, checks_right, filled, judge, raised, returned_instead_of_raising, returns, right

matplotlib.use("Agg")


def _zeros(case):
    return filled(case, 0)


def test_a_device_check_earns_nothing_while_no_values_are_right():
    result = judge("qk_scores", lambda c: checks_right(c, _zeros))
    assert result.score == 0.0 and result.status == "failed"
    (meta,) = [r for r in result.cases if r.case.kind == "meta_device"]
    assert not meta.passed
    assert meta.to_json()["status"] == "failed"
    assert "only once your values are right" in meta.to_json()["detail"]


def test_a_device_check_counts_once_values_are_right_on_one_case():
    result = judge("qk_scores", lambda c: checks_right(c, lambda c: right(c) if c.id == "v0" else _zeros(c)))
    (meta,) = [r for r in result.cases if r.case.kind == "meta_device"]
    assert meta.passed and not meta.detail
    assert result.status == "partial"
    assert result.score == COURSE.task("qk_scores").points * 2 / len(result.cases)


def test_an_error_check_earns_nothing_while_no_values_are_right():
    result = judge("causal_mask", lambda c: checks_right(c, _zeros))
    assert result.score == 0.0
    errors = [r for r in result.cases if r.case.kind == "expect_error"]
    assert errors and not any(r.passed for r in errors)
    assert all("raised ValueError as it should" in r.detail for r in errors)


def test_a_stub_that_only_checks_its_input_is_not_implemented():
    stub = raised("NotImplementedError", "", frames=("causal_mask",))
    result = judge("causal_mask", lambda c: checks_right(c, lambda c: stub))
    assert result.status == "missing" and result.score == 0.0
    assert [d.id for d in result.diagnoses] == ["not_implemented"]


def test_zeros_are_a_placeholder_not_a_scale_of_zero():
    result = judge("qk_scores", lambda c: checks_right(c, _zeros))
    assert [d.id for d in result.diagnoses] == ["constant_output"]
    assert "your qk_scores returns zeros everywhere, but the expected scores vary" in result.feedback
    # The 1 x 1 probe expects one value: its zeros are the same placeholder, not a ratio of 0.
    (e1,) = [r for r in result.cases if r.case.probe == "e1"]
    assert [p.id for p in e1.problems] == ["constant_output"]


def test_one_value_everywhere_is_a_placeholder_with_its_value():
    result = judge("softmax_with_temperature", lambda c: checks_right(c, lambda c: filled(c, 0.5)))
    assert result.diagnoses[0].id == "constant_output"
    misleading = {"wrong_dim", "temperature_ignored", "temperature_inverted", "wrong_values"}
    assert not misleading & {d.id for d in result.diagnoses}
    assert "returns the same value (0.5) everywhere" in result.feedback
    assert result.score == 0.0


def test_an_input_returned_unchanged_is_a_placeholder():
    result = judge("softmax_with_temperature", lambda c: checks_right(c, lambda c: returns(c.tensors["x"].clone())))
    assert result.diagnoses[0].id == "constant_output"
    assert "returns its input scores unchanged" in result.feedback
    assert "nan_output" not in {d.id for d in result.diagnoses}  # the -inf of a masked row is the input's own
    assert result.score == 0.0


def test_a_mask_all_false_or_all_true_is_a_placeholder():
    for value, words in ((False, "False everywhere"), (True, "True everywhere")):
        result = judge("causal_mask", lambda c, value=value: checks_right(c, lambda c: filled(c, value)))
        assert result.diagnoses[0].id == "constant_output", result.diagnoses
        assert f"returns a mask that is {words}" in result.feedback
        assert not {"mask_inverted", "mask_diagonal_excluded"} & {d.id for d in result.diagnoses}


def test_a_constant_on_one_case_of_a_function_that_computes_elsewhere_is_no_placeholder():
    """A mask True everywhere on the one case where its slip makes it so (seen by an instructor's task: a padding
    mask with <= on max_len = 1), by a function whose masks vary on the other cases, is no placeholder: it is not
    named constant_output. Control: the same constant on every case is."""

    def wrong_on_one(c):
        if c.extra.get("n") == 5:
            return filled(c, True)
        return right(c)

    result = judge("causal_mask", lambda c: checks_right(c, wrong_on_one))
    assert result.score < result.max_score
    assert "constant_output" not in {d.id for d in result.diagnoses}, result.feedback
    control = judge("causal_mask", lambda c: checks_right(c, lambda c: filled(c, True)))
    assert control.diagnoses[0].id == "constant_output"


def test_attention_zeros_name_both_outputs():
    result = judge("attention", lambda c: checks_right(c, _zeros))
    assert [d.id for d in result.diagnoses] == ["constant_output"]
    assert "returns zeros everywhere as output and weights, but the expected output and weights vary" in result.feedback
    assert result.score == 0.0


def test_right_weights_and_a_zero_output_name_only_the_output():
    def answer(c):
        meta, tensors = right(c)
        tensors["out.0"] = torch.zeros_like(tensors["out.0"])
        return meta, tensors

    result = judge("attention", lambda c: checks_right(c, answer))
    assert "returns zeros everywhere as output, but the expected output varies" in result.feedback


def _flat_softmax_case() -> Case:
    """Every score equal: the expected weights are uniform, so a uniform answer is right, not a placeholder."""
    x = torch.full((3, 4), 2.0)
    return Case(
        "softmax_with_temperature",
        "flat",
        "scores (3, 4) float32, all equal",
        "call",
        {"kind": "call", "args": [{"t": "x"}, {"v": 1.0}], "kwargs": {"dim": {"v": -1}}},
        tensors={"x": x},
        dtype="float32",
        expected=[torch.full((3, 4), 0.25, dtype=torch.float64)],
        extra={"T": 1.0, "dim": -1},
    )


def test_no_placeholder_where_the_expected_output_is_constant_itself():
    flat = [_flat_softmax_case()]
    assert judge("softmax_with_temperature", lambda c: filled(c, 0.25), flat).status == "passed"
    wrong = judge("softmax_with_temperature", lambda c: filled(c, 0.0), flat)
    assert [d.id for d in wrong.diagnoses] == ["wrong_values"]
    # The 1 x 1 probe alone: zeros there are a wrong value, and no scale of 0.
    (e1,) = [c for c in cases("qk_scores") if c.probe == "e1"]
    alone = judge("qk_scores", _zeros, [e1])
    assert [d.id for d in alone.diagnoses] == ["wrong_values"]


def _plot_reply(case, grid: np.ndarray):
    """What the worker reads off a heatmap of `grid`, labelled with the case's tokens, with a colorbar."""
    import matplotlib.pyplot as plt
    from attnlab.child import figure_data

    fig, ax = plt.subplots()
    image = ax.imshow(grid, vmin=0, vmax=1)
    q, k = case.extra["query_tokens"], case.extra["key_tokens"]
    ax.set_xticks(range(len(k)), labels=k)
    ax.set_yticks(range(len(q)), labels=q)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    fig.colorbar(image, ax=ax)
    meta, arrays = figure_data.describe_axes(ax)
    plt.close(fig)
    return (
        {"status": "ok", "figure": meta, "drew_on_given_ax": True, "forbidden": [], "evasion": False},
        {f"fig.{n}": torch.as_tensor(a, dtype=torch.float64) for n, a in arrays.items()},
    )


def test_a_blank_heatmap_is_a_placeholder_not_a_mislabelled_one():
    blank = judge("plot_attention", lambda c: _plot_reply(c, np.zeros(tuple(c.expected[0].shape))))
    assert blank.score == 0.0
    assert [d.id for d in blank.diagnoses] == ["constant_output"]
    assert "your plot_attention draws zeros in every cell, but the weights vary" in blank.feedback
    drawn = judge("plot_attention", lambda c: _plot_reply(c, c.expected[0].numpy()))
    assert drawn.status == "passed", drawn.feedback


def test_a_placeholder_comes_first_and_keeps_what_else_is_wrong():
    def answer(c):  # zeros, and no ValueError for a bad temperature
        if c.kind == "expect_error":
            return returned_instead_of_raising(c)
        return _zeros(c)

    result = judge("softmax_with_temperature", answer)
    assert [d.id for d in result.diagnoses] == ["constant_output", "accepts_invalid_temperature"]


def test_judge_task_takes_made_up_cases_on_their_own():
    (c,) = [c for c in cases("qk_scores") if c.id == "v0"]
    meta, tensors = right(c)
    result = judge_task(COURSE.task("qk_scores"), [c], {c.id: meta}, {c.id: tensors}, COURSE)
    assert result.status == "passed" and result.score == COURSE.task("qk_scores").points
