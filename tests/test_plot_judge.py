"""plot_attention: real figures, read by figure_data (the child's side), judged by plot_judge (the parent's).

Every drawing direction a student might choose must pass when its labels match its data, and each
classic mistake must get its own diagnosis. The weights are a softmax of random scores, so that
weights.T is easy to tell from weights.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from attnlab.child.figure_data import axes_from_return, describe_axes  # noqa: E402
from attnlab.judging.plot_judge import judge_plot  # noqa: E402
from attnlab.reference import plot_attention  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

pytestmark = pytest.mark.plot_attention

SELF = ["river", "bank", "was", "flooded", "after", "rain"]  # L = S = 6, key_tokens = query_tokens
CROSS = (["river", "bank", "flooded"], ["the", "river", "bank", "flooded", "today"])  # L = 3, S = 5
REPEATED = ["the", "trophy", "did", "not", "fit", "in", "the", "suitcase"]  # "the" twice


def softmax_weights(L: int, S: int, seed: int = 0) -> np.ndarray:
    scores = 2.0 * np.random.default_rng(seed).standard_normal((L, S))  # (L, S)
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)  # (L, S), rows sum to 1


CASES = {
    "self": (SELF, SELF),
    "cross": CROSS,
    "repeated": (REPEATED, REPEATED),
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def judge(ax, w, q, k):
    """What the grader does: read the figure in the 'child', send it as JSON and float64, judge it."""
    meta, arrays = describe_axes(axes_from_return(ax))
    meta = json.loads(json.dumps(meta))
    arrays = {name: np.asarray(a, dtype=np.float64) for name, a in arrays.items()}
    return judge_plot(meta, arrays, w, q, k)


def labels(ax, xs, ys, xpos=None, ypos=None, xlabel="key", ylabel="query"):
    ax.set_xticks(range(len(xs)) if xpos is None else xpos, labels=xs, rotation=90)
    ax.set_yticks(range(len(ys)) if ypos is None else ypos, labels=ys)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


# -------------------------------------------------------------------- drawings that must pass


def draw_reference(w, q, k):
    return plot_attention(w, q, k)


def draw_imshow_lower(w, q, k):
    _, ax = plt.subplots()
    im = ax.imshow(w, origin="lower", vmin=0, vmax=1)
    labels(ax, k, q)
    ax.figure.colorbar(im, ax=ax)
    return ax


def draw_imshow_inverted_x(w, q, k):
    _, ax = plt.subplots()
    im = ax.imshow(w)
    ax.invert_xaxis()
    labels(ax, k, q)
    ax.figure.colorbar(im, ax=ax)
    return ax


def draw_matshow(w, q, k):
    _, ax = plt.subplots()
    im = ax.matshow(w)
    labels(ax, k, q)
    plt.colorbar(im, ax=ax)
    return ax.figure  # a Figure is accepted too


def draw_pcolormesh(w, q, k):
    _, ax = plt.subplots()
    mesh = ax.pcolormesh(w)  # row 0 at the bottom
    labels(ax, k, q, np.arange(len(k)) + 0.5, np.arange(len(q)) + 0.5)
    ax.figure.colorbar(mesh, ax=ax)
    return ax


def draw_pcolormesh_inverted(w, q, k):
    ax = draw_pcolormesh(w, q, k)
    ax.invert_yaxis()  # row 0 at the top, like a matrix
    return ax


def draw_seaborn(w, q, k):
    import seaborn as sns

    _, ax = plt.subplots()
    sns.heatmap(w, ax=ax, vmin=0, vmax=1, xticklabels=list(k), yticklabels=list(q))
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    return ax


def draw_transposed(w, q, k):
    """Queries along x, keys along y, and labels that say so."""
    _, ax = plt.subplots()
    im = ax.imshow(w.T)  # (S, L): row j is key j
    labels(ax, q, k, xlabel="query", ylabel="key")
    ax.figure.colorbar(im, ax=ax)
    return ax


def draw_mesh_with_rows_along_x(w, q, k):
    """pcolormesh(X, Y, w) with X varying down the rows: query i is the column x in [i, i + 1]."""
    L, S = w.shape
    X, Y = np.meshgrid(np.arange(L + 1), np.arange(S + 1), indexing="ij")  # each (L + 1, S + 1)
    _, ax = plt.subplots()
    mesh = ax.pcolormesh(X, Y, w)
    labels(ax, q, k, np.arange(L) + 0.5, np.arange(S) + 0.5, xlabel="queries", ylabel="keys")
    ax.figure.colorbar(mesh, ax=ax)
    return ax


GOOD = [
    draw_reference,
    draw_imshow_lower,
    draw_imshow_inverted_x,
    draw_matshow,
    draw_pcolormesh,
    draw_pcolormesh_inverted,
    draw_seaborn,
    draw_transposed,
    draw_mesh_with_rows_along_x,
]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("draw", GOOD, ids=lambda f: f.__name__.removeprefix("draw_"))
def test_correct_drawings_pass(draw, case):
    q, k = CASES[case]
    w = softmax_weights(len(q), len(k))
    verdict = judge(draw(w, q, k), w, q, k)
    assert verdict.passed, verdict.messages
    assert verdict.diagnoses == [] and verdict.messages == []


def test_reference_reads_as_imshow_with_every_token():
    q, k = CROSS
    w = softmax_weights(3, 5)
    meta, arrays = describe_axes(plot_attention(w, q, k))
    assert meta["kind"] == "imshow" and meta["colorbar"] is True
    assert meta["xticklabels"] == k and meta["yticklabels"] == q
    assert arrays["grid"].shape == (3, 5) and arrays["grid"].dtype == np.float64
    np.testing.assert_allclose(arrays["x_centers"], np.arange(5))
    np.testing.assert_allclose(arrays["y_centers"], np.arange(3))


# --------------------------------------------------------------------------- the mistakes


def draw_transposed_with_row_labels(w, q, k):
    """The classic: weights.T drawn, but the rows still labelled with the query tokens."""
    _, ax = plt.subplots()
    im = ax.imshow(w.T)
    labels(ax, k, q)
    ax.figure.colorbar(im, ax=ax)
    return ax


@pytest.mark.parametrize("case", ["self", "cross"])
def test_transposed_with_unchanged_labels_is_wrong_data(case):
    q, k = CASES[case]
    w = softmax_weights(len(q), len(k))
    verdict = judge(draw_transposed_with_row_labels(w, q, k), w, q, k)
    assert verdict.diagnoses == ["plot_wrong_data"]
    assert "did you draw weights.T while labelling the y axis with the query tokens?" in verdict.messages[0]


def test_wrong_cell_message_names_the_labels_and_the_weight():
    q = k = SELF
    w = softmax_weights(6, 6)
    verdict = judge(draw_transposed_with_row_labels(w, q, k), w, q, k)
    i, j = np.unravel_index(np.argmax(np.abs(w.T - w)), w.shape)
    assert verdict.messages[0].startswith(
        f"the cell labelled (query {q[i]!r}, key {k[j]!r}) shows {w[j, i]:.2f} but weights[{i}, {j}] is {w[i, j]:.2f}"
    )


def test_other_data_is_wrong_data():
    q, k = CROSS
    w = softmax_weights(3, 5)
    verdict = judge(draw_reference(softmax_weights(3, 5, seed=1), q, k), w, q, k)
    assert verdict.diagnoses == ["plot_wrong_data"]
    assert "these are not the weights you were given" in verdict.messages[0]


def test_labels_in_reverse_order_are_wrong_data():
    q, k = CROSS
    w = softmax_weights(3, 5)
    _, ax = plt.subplots()
    im = ax.imshow(w, origin="lower")  # row 0 at the bottom ...
    labels(ax, k, q[::-1])  # ... but labelled as if it were at the top
    ax.figure.colorbar(im, ax=ax)
    verdict = judge(ax, w, q, k)
    assert verdict.diagnoses == ["plot_wrong_data"]
    assert "opposite direction to the query labels" in verdict.messages[0]


def test_pcolormesh_ticks_on_cell_edges_are_wrong_data():
    q, k = CROSS
    w = softmax_weights(3, 5)
    _, ax = plt.subplots()
    mesh = ax.pcolormesh(w)
    labels(ax, k, q)  # ticks at j, the cell edges, instead of j + 0.5
    ax.figure.colorbar(mesh, ax=ax)
    verdict = judge(ax, w, q, k)
    assert verdict.diagnoses == ["plot_wrong_data"]
    assert "not the centre of any cell" in verdict.messages[0]


def test_wrong_shape_is_wrong_data():
    q, k = CROSS
    w = softmax_weights(3, 5)
    verdict = judge(draw_reference(w[:, :4], q, k[:4]), w, q, k)
    assert verdict.diagnoses[0] == "plot_wrong_data"
    assert "3 rows and 4 columns" in verdict.messages[0]


def test_no_ticks_or_axis_labels_is_missing_labels():
    q, k = CROSS
    w = softmax_weights(3, 5)
    _, ax = plt.subplots()
    im = ax.imshow(w.T)  # without labels any orientation of the data is accepted
    ax.figure.colorbar(im, ax=ax)
    verdict = judge(ax, w, q, k)
    assert verdict.diagnoses == ["plot_missing_labels"]
    assert "x and y axis labels are empty" in verdict.messages[0]
    assert "'river'" in verdict.messages[0]


def test_unlabelled_wrong_data_is_both():
    q, k = CROSS
    w = softmax_weights(3, 5)
    _, ax = plt.subplots()
    im = ax.imshow(np.zeros((3, 5)))
    ax.figure.colorbar(im, ax=ax)
    assert judge(ax, w, q, k).diagnoses == ["plot_wrong_data", "plot_missing_labels"]


def test_empty_axis_label_alone_is_missing_labels():
    q, k = CROSS
    w = softmax_weights(3, 5)
    ax = draw_reference(w, q, k)
    ax.set_ylabel("")
    verdict = judge(ax, w, q, k)
    assert verdict.diagnoses == ["plot_missing_labels"]
    assert verdict.messages[0].startswith("the y axis label is empty")


def test_no_colorbar_is_missing_colorbar():
    q, k = CROSS
    w = softmax_weights(3, 5)
    _, ax = plt.subplots()
    ax.imshow(w)
    labels(ax, k, q)
    verdict = judge(ax, w, q, k)
    assert verdict.diagnoses == ["plot_missing_colorbar"]
    assert "colorbar" in verdict.messages[0]


@pytest.mark.parametrize("draw", ["line", "empty", "rgb"])
def test_no_heatmap_is_wrong_data(draw):
    q = k = SELF
    w = softmax_weights(6, 6)
    _, ax = plt.subplots()
    if draw == "line":
        ax.plot(w[0])
    elif draw == "rgb":
        ax.imshow(plt.get_cmap("viridis")(w))  # (L, S, 4) colours instead of values
    meta, arrays = describe_axes(ax)
    assert meta["kind"] == "none" and arrays == {}
    verdict = judge(ax, w, q, k)
    assert verdict.diagnoses == ["plot_wrong_data"]
    assert ("RGB" if draw == "rgb" else "imshow, ax.matshow, ax.pcolormesh or seaborn.heatmap") in verdict.messages[0]


# ----------------------------------------------------------------------------- the edges


def test_axes_from_return():
    w = softmax_weights(3, 5)
    ax = draw_reference(w, *CROSS)
    assert axes_from_return(ax) is ax
    assert axes_from_return(ax.figure) is ax  # not the colorbar's Axes
    assert axes_from_return(None) is ax  # the current Axes
    for garbage in ("ax", 3, ax.images[0], [ax]):
        with pytest.raises(TypeError, match="return the matplotlib Axes"):
            axes_from_return(garbage)
    with pytest.raises(TypeError, match="no Axes"):
        axes_from_return(plt.figure())
    with pytest.raises(TypeError, match="^draw_weights returned str: "):  # the student's function, by its name
        axes_from_return("ax", "draw_weights")


@pytest.mark.parametrize(
    "name, allowed", [("child/figure_data", {"numpy", "matplotlib"}), ("judging/plot_judge", {"numpy"})]
)
def test_imports_stay_small(name, allowed):
    """figure_data runs next to student code (no torch, no attnlab); plot_judge needs numpy only."""
    tree = ast.parse((Path(__file__).parents[1] / "autograder" / f"{name}.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
    tops = {m.split(".")[0] for m in imported}
    assert tops - allowed - set(sys.stdlib_module_names) == set()
    assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree))  # no relative imports


def test_describe_axes_never_raises():
    meta, arrays = describe_axes("not an Axes")
    assert meta["kind"] == "none" and "error" in meta and arrays == {}


_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=5),
    st.lists(st.one_of(st.floats(), st.text(max_size=3)), max_size=6),
)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["imshow", "pcolormesh", "none", "bogus", None]),
    ticks=_junk,
    ticklabels=_junk,
    text=_junk,
    colorbar=_junk,
    rows=st.integers(0, 6),
    cols=st.integers(0, 6),
    centres=st.integers(0, 6),
)
def test_judge_never_raises_on_a_malformed_figure(kind, ticks, ticklabels, text, colorbar, rows, cols, centres):
    meta = {
        "kind": kind,
        "xticks": ticks,
        "xticklabels": ticklabels,
        "yticks": ticks,
        "yticklabels": ticklabels,
        "xlabel": text,
        "ylabel": text,
        "colorbar": colorbar,
    }
    arrays = {
        "grid": np.full((rows, cols), 0.5),
        "x_centers": np.arange(float(centres)),
        "y_centers": np.arange(float(rows)),
    }
    q, k = CROSS
    verdict = judge_plot(meta, arrays, softmax_weights(3, 5), q, k)
    assert verdict.passed == (not verdict.diagnoses)
    assert len(verdict.messages) == len(verdict.diagnoses)
