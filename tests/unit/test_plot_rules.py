"""plot_judge: the rules, on hand-written figure descriptions (what ``figure_data.describe_axes`` sends).

No matplotlib here: each figure is the (meta, arrays) pair the child would send for ``ax.imshow(grid)`` with
some tick labels (``fakes.heatmap``), so that each rule is checked in milliseconds. The real figures, read by
``figure_data``, are in ``tests/test_plot_judge.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from attnlab.judging.judge import judge_case
from attnlab.judging.plot_judge import judge_plot

from .fakes import COURSE, cases, drawn, heatmap

Q = ["river", "bank", "flooded"]
K = ["the", "river", "bank", "flooded", "today"]
SELF = ["the", "trophy", "did", "not"]


def _weights(L: int, S: int, seed: int = 0) -> np.ndarray:
    x = 2.0 * np.random.default_rng(seed).standard_normal((L, S))
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)  # (L, S), rows sum to 1


W = _weights(3, 5)  # cross-attention: queries Q, keys K
WS = _weights(4, 4, seed=1)  # self-attention over SELF


def _verdict(meta, arrays, w=W, q=Q, k=K, drawn_as=None):
    return judge_plot(meta, arrays, w, q, k, drawn_as=drawn_as)


# ---------------------------------------------------------------------------------------------- right


@pytest.mark.parametrize("w, q, k", [(W, Q, K), (WS, SELF, SELF)], ids=["cross", "self"])
def test_the_weights_with_keys_on_x_and_queries_on_y_pass(w, q, k):
    v = _verdict(*heatmap(w, k, q), w, q, k)
    assert v.passed and v.diagnoses == [] and v.messages == []


def test_the_weights_transposed_with_labels_that_say_so_pass():
    v = _verdict(*heatmap(W.T, Q, K, xlabel="query", ylabel="key"))
    assert v.passed, v.messages


# ------------------------------------------------------------------------------------- plot_wrong_data


def test_other_numbers_under_the_right_labels_are_plot_wrong_data():
    v = _verdict(*heatmap(W[::-1, ::-1] * 0.7 + 0.1, K, Q))  # unrelated to the weights in any way the describer knows
    assert v.diagnoses == ["plot_wrong_data"] and not v.passed
    assert "these are not the weights you were given" in v.messages[0]


def test_numbers_the_describer_relates_to_the_weights_are_said_so():
    import functools

    from attnlab.judging.describe import drawn_as

    v = _verdict(*heatmap(W**2, K, Q), drawn_as=functools.partial(drawn_as, task_id="plot_attention"))
    assert v.diagnoses == ["plot_wrong_data"] and not v.passed
    assert "your heatmap is the square of the weights: leave out the square. Draw weights itself" in v.messages[0]


def test_a_square_heatmap_transposed_under_unchanged_labels_is_plot_wrong_data():
    v = _verdict(*heatmap(WS.T, SELF, SELF), WS, SELF, SELF)
    assert v.diagnoses == ["plot_wrong_data"]
    assert "did you draw weights.T while labelling the y axis with the query tokens?" in v.messages[0]


def test_a_non_square_heatmap_transposed_under_unchanged_labels_is_plot_wrong_data():
    meta, arrays = heatmap(W.T, K, Q)  # 5 rows, 3 columns; keys still on x and queries on y
    meta["xticks"], meta["yticks"] = [float(j) for j in range(5)], [float(i) for i in range(3)]
    v = _verdict(meta, arrays)
    assert v.diagnoses[0] == "plot_wrong_data"
    assert v.messages[0].startswith("your heatmap has 5 rows and 3 columns, but the y axis carries the 3 query tokens")


def test_rows_drawn_upside_down_under_the_labels_are_plot_wrong_data():
    v = _verdict(*heatmap(W[::-1], K, Q))
    assert v.diagnoses == ["plot_wrong_data"]
    assert "run in the opposite direction to the query labels" in v.messages[0]


def test_labels_in_another_order_than_the_cells_are_plot_wrong_data():
    v = _verdict(*heatmap(W, K[::-1][:1] + K[1:4] + K[:1], Q))  # the first and last key labels swapped
    assert v.diagnoses == ["plot_wrong_data"]
    assert "the right values are all there, under the wrong labels" in v.messages[0]


def test_a_heatmap_of_the_wrong_shape_is_plot_wrong_data():
    v = _verdict(*heatmap(np.ones((4, 4)) / 4, K[:4], Q + ["x"]))
    assert v.diagnoses[0] == "plot_wrong_data"
    assert v.messages[0].startswith("your heatmap has 4 rows and 4 columns, but weights is 3 × 5")


def test_ticks_between_the_cells_are_plot_wrong_data():
    v = _verdict(*heatmap(W, K, Q, xticks=[j + 0.5 for j in range(5)]))
    assert v.diagnoses == ["plot_wrong_data"]
    assert "the key tick 'the' sits at x = 0.5, which is not the centre of any cell" in v.messages[0]


@pytest.mark.parametrize(
    "meta, why",
    [
        ({"kind": "none", "colorbar": True, "xlabel": "key", "ylabel": "query"}, "no heatmap was found"),
        ({"kind": "none", "rgb": True, "colorbar": True}, "your image holds RGB colours"),
        ({"kind": "surface"}, "your figure could not be read (unknown kind of plot 'surface')"),
        ({"kind": "imshow", "xticks": [0.0], "xticklabels": []}, "the tick positions and labels do not match"),
        ("not a dict", "the figure description is not a dict"),
    ],
    ids=["no heatmap", "rgb", "unknown kind", "ticks without labels", "garbage"],
)
def test_a_figure_without_a_readable_heatmap_is_plot_wrong_data(meta, why):
    v = _verdict(meta, {})
    assert v.diagnoses[0] == "plot_wrong_data" and not v.passed
    assert why in v.messages[0]


def test_a_grid_whose_centres_do_not_fit_is_unreadable_not_a_crash():
    meta, arrays = heatmap(W, K, Q)
    arrays["x_centers"] = arrays["x_centers"][:2]
    v = _verdict(meta, arrays)
    assert v.diagnoses == ["plot_wrong_data"]
    assert "the cell centres do not fit the grid" in v.messages[0]


# ---------------------------------------------------------------------------------- plot_missing_labels


def test_right_data_without_tick_labels_is_plot_missing_labels_only():
    v = _verdict(*heatmap(W, [], []))
    assert v.diagnoses == ["plot_missing_labels"]
    assert v.messages[0].startswith("your tick labels read x: none and y: none, but one axis needs the 3 query tokens")


def test_empty_axis_labels_are_plot_missing_labels():
    v = _verdict(*heatmap(W, K, Q, xlabel="", ylabel=" "))
    assert v.diagnoses == ["plot_missing_labels"]
    assert "the x and y axis labels are empty" in v.messages[0]
    one = _verdict(*heatmap(W, K, Q, ylabel=""))
    assert "the y axis label is empty" in one.messages[0]


def test_wrong_data_without_labels_is_both_wrong_data_and_missing_labels():
    v = _verdict(*heatmap(W + 0.1, [], []))
    assert v.diagnoses == ["plot_wrong_data", "plot_missing_labels"]
    assert "your heatmap does not hold the weights in any orientation" in v.messages[0]


# ------------------------------------------------------------------------------- plot_missing_colorbar


def test_no_colorbar_is_plot_missing_colorbar():
    v = _verdict(*heatmap(W, K, Q, colorbar=False))
    assert v.diagnoses == ["plot_missing_colorbar"]
    assert "no colorbar was found" in v.messages[0]


def test_every_problem_at_once_comes_in_catalogue_order():
    v = _verdict(*heatmap(W**2, [], [], xlabel="", colorbar=False))
    assert v.diagnoses == ["plot_wrong_data", "plot_missing_labels", "plot_missing_colorbar"]
    assert len(v.messages) == 3


# --------------------------------------------------------------------- the judge's side: judge_case "plot"


def _plot_case(cid: str):
    (case,) = [c for c in cases("plot_attention") if c.id == cid]
    assert case.kind == "plot"
    return case


def _judged(case, grid, **kw):
    w = case.expected[0].numpy()
    q, k = case.extra["query_tokens"], case.extra["key_tokens"]
    meta, arrays = heatmap(w if grid is None else grid, k, q, **kw)
    return judge_case(case, *drawn(meta, arrays), COURSE)


def test_a_right_plot_case_passes_through_judge_case():
    result = _judged(_plot_case("cross"), None)
    assert result.passed and result.problems == []


def test_a_blank_heatmap_is_constant_output_not_plot_wrong_data():
    case = _plot_case("cross")
    result = _judged(case, np.zeros(tuple(case.expected[0].shape)))
    assert not result.passed
    assert [p.id for p in result.problems] == ["constant_output"]
    assert "your plot_attention draws zeros in every cell, but the weights vary" in result.problems[0].message


def test_a_blank_heatmap_keeps_its_other_problems():
    case = _plot_case("self")
    result = _judged(case, np.full(tuple(case.expected[0].shape), 0.5), colorbar=False)
    assert [p.id for p in result.problems] == ["constant_output", "plot_missing_colorbar"]
    assert "draws the same value (0.5) in every cell" in result.problems[0].message


def test_a_transposed_heatmap_through_judge_case_is_plot_wrong_data():
    case = _plot_case("self")
    result = _judged(case, case.expected[0].numpy().T)
    assert [p.id for p in result.problems] == ["plot_wrong_data"]
    assert "did you draw weights.T" in result.problems[0].message


def test_a_new_figure_instead_of_the_given_ax_is_plot_wrong_data():
    case = _plot_case("given_ax")
    w = case.expected[0].numpy()
    meta, arrays = heatmap(w, case.extra["key_tokens"], case.extra["query_tokens"])
    result = judge_case(case, *drawn(meta, arrays, drew_on_given_ax=False), COURSE)
    assert [p.id for p in result.problems] == ["plot_wrong_data"]
    assert "when an `ax` is passed in, draw on it and return it" in result.problems[0].message
    assert judge_case(case, *drawn(meta, arrays), COURSE).passed


def test_figure_text_quoted_in_a_message_is_capped():
    case = _plot_case("cross")
    w = case.expected[0].numpy()
    q, k = case.extra["query_tokens"], case.extra["key_tokens"]
    meta, arrays = heatmap(w, ["x" * 5000] * len(k), q)
    result = judge_case(case, *drawn(meta, arrays), COURSE)
    assert [p.id for p in result.problems] == ["plot_missing_labels"]
    assert len(result.problems[0].message) <= 600
