"""Judge a student's attention heatmap from the plain data the child read off the figure.

The child (``figure_data.py``) sends ``meta`` (tick positions and texts, axis labels, whether there
is a colorbar) and ``arrays`` (the cell values ``grid`` (rows, cols) and the cell centres
``x_centers`` (cols,) and ``y_centers`` (rows,)). Nothing in them is trusted: a malformed figure is a
wrong plot, never a crash.

What counts is what a reader sees: the cell under the tick labels (query q, key k) must show
weights[i, j]. Any drawing direction passes (origin "upper" or "lower", inverted axes, the queries on
x and the keys on y) as long as the labels match the data. Three diagnoses, in this order:

- ``plot_wrong_data``: no heatmap, a grid of the wrong shape, or a labelled cell that shows the wrong
  value (without usable labels: a grid that is not the weights in any orientation);
- ``plot_missing_labels``: the token tick labels or the axis labels are missing;
- ``plot_missing_colorbar``: no colorbar.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["PlotVerdict", "judge_plot"]

# ---------------------------------------------------------------------------------------- messages

NO_HEATMAP = (
    "no heatmap was found on the Axes you returned: draw the weights with ax.imshow, ax.matshow, "
    "ax.pcolormesh or seaborn.heatmap(..., ax=ax), and return that Axes."
)
RGB_IMAGE = (
    "your image holds RGB colours, not the weights themselves: pass the (L, S) weights array to "
    "imshow and let the colormap colour it."
)
UNREADABLE = (
    "your figure could not be read ({why}): draw one heatmap of the weights with imshow, matshow, "
    "pcolormesh or seaborn.heatmap."
)
WRONG_SHAPE = (
    "your heatmap has {rows} rows and {cols} columns, but weights is {L} × {S} ({L} query tokens, "
    "{S} key tokens): draw weights itself, one cell per (query, key) pair."
)
SHAPE_VS_LABELS = (
    "your heatmap has {rows} rows and {cols} columns, but the {qaxis} axis carries the {L} query "
    "tokens: did you draw {drawn} while labelling the {qaxis} axis with the query tokens? "
    "{fix}"
)
TICK_OFF_CELL = (
    "the {role} tick {tok} sits at {axis} = {pos:g}, which is not the centre of any cell (the "
    "centres are at {centres}): put each tick at its cell's centre, j with imshow or matshow, "
    "j + 0.5 with pcolormesh."
)
TICKS_SHARE_CELL = (
    "the {role} ticks {a} and {b} point to the same cell on the {axis} axis: give each row and each "
    "column exactly one tick, at its centre."
)
CELL_MISMATCH = "the cell labelled (query {q}, key {k}) shows {got} but weights[{i}, {j}] is {want:.2f}: {hint}"
HINT_TRANSPOSED = "did you draw {drawn} while labelling the {qaxis} axis with the query tokens? {fix}"
HINT_FLIPPED = (
    "the values are right but run in the opposite direction to the {which}, so make the tick labels "
    "follow the order in which the cells are drawn (check origin=, invert_yaxis() and the order of "
    "your labels)."
)
HINT_MOVED = (
    "the right values are all there, under the wrong labels, so put the tick for token j at the "
    "centre of cell j, with that token's text."
)
HINT_OTHER = (
    "these are not the weights you were given, so draw weights itself, unchanged (no extra softmax, "
    "normalisation or rounding)."
)
HINT_DESCRIBED = "{what}. Draw weights itself, unchanged."
UNLABELLED_MISMATCH = (
    "your heatmap does not hold the weights in any orientation (the nearest, {nearest}, {off}): "
    "draw weights itself, unchanged."
)
TICKS_MISSING = (
    "your tick labels read x: {xs} and y: {ys}, but one axis needs the {L} query tokens {Q} and the "
    "other the {S} key tokens {K}: set them with ax.set_xticks(positions, labels=...) and "
    "ax.set_yticks(positions, labels=...), one tick at the centre of each cell"
)
AXIS_LABELS_MISSING = 'the {which} empty: name the axes, for example ax.set_xlabel("key") and ax.set_ylabel("query")'
NO_COLORBAR = (
    "no colorbar was found, so the colours have no scale: add one with ax.figure.colorbar(image, "
    "ax=ax), where image is what imshow or pcolormesh returned."
)

ATOL_DEFAULT = 1e-3
TICK_SLACK = 0.3  # a tick may sit this fraction of a cell away from the cell's centre
MAX_SHOWN = 8  # tokens shown in a message before "…"
_QUERY_WORDS = re.compile(r"\b(quer(y|ies)|attending|looking)\b", re.IGNORECASE)
_KEY_WORDS = re.compile(r"\b(keys?|attended|looked)\b", re.IGNORECASE)


@dataclass
class PlotVerdict:
    """The diagnoses (in catalogue order), one message for each, and whether the plot passed."""

    diagnoses: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    passed: bool = True


def judge_plot(
    meta: dict,
    arrays: dict,
    weights: np.ndarray,
    query_tokens: list[str],
    key_tokens: list[str],
    atol: float = ATOL_DEFAULT,
    drawn_as: Callable[[np.ndarray, np.ndarray, float], str | None] | None = None,
) -> PlotVerdict:
    """Judge the figure the child read against weights (L, S), query_tokens (L,) and key_tokens (S,).

    `drawn_as(grid, weights, atol)` says what a grid that is not the weights shows instead, where it can
    (the judge passes ``attnlab.judging.describe.drawn_as``; this module stays numpy only)."""
    w = np.asarray(weights, dtype=np.float64)  # (L, S)
    if w.ndim != 2 or w.shape != (len(query_tokens), len(key_tokens)):
        raise ValueError(f"weights {w.shape} do not match {len(query_tokens)} query and {len(key_tokens)} key tokens")
    q_tok = [str(t).strip() for t in query_tokens]
    k_tok = [str(t).strip() for t in key_tokens]
    try:
        fig = _Figure.read(meta, arrays)
    except _Unreadable as e:
        return _verdict([("plot_wrong_data", UNREADABLE.format(why=e))])
    if fig.kind == "none":
        return _verdict([("plot_wrong_data", RGB_IMAGE if fig.rgb else NO_HEATMAP)])

    L, S = w.shape
    rows, cols = fig.shape
    found = []
    if (rows, cols) not in ((L, S), (S, L)):
        found.append(("plot_wrong_data", WRONG_SHAPE.format(rows=rows, cols=cols, L=L, S=S)))
    query_axis = _query_axis(fig, q_tok, k_tok)
    if not found:
        try:
            if query_axis is None:
                problem = _check_unlabelled(fig.grid, w, atol)
            else:
                problem = _check_labelled(fig, w, q_tok, k_tok, query_axis, atol, drawn_as)
        except _Unreadable as e:
            problem = UNREADABLE.format(why=e)
        if problem:
            found.append(("plot_wrong_data", problem))
    missing = _missing_labels(fig, q_tok, k_tok, query_axis)
    if missing:
        found.append(("plot_missing_labels", missing))
    if not fig.colorbar:
        found.append(("plot_missing_colorbar", NO_COLORBAR))
    return _verdict(found)


def _verdict(found: list[tuple[str, str]]) -> PlotVerdict:
    return PlotVerdict([d for d, _ in found], [m for _, m in found], passed=not found)


# ------------------------------------------------------------------------------- reading the figure


class _Unreadable(ValueError):
    pass


@dataclass
class _Figure:
    """The child's description, checked: every field has the type and length it promises."""

    kind: str
    rgb: bool
    shape: tuple[int, int]
    grid: np.ndarray | None  # (rows, cols), rows along y
    centers: dict  # "x": (cols,), "y": (rows,)
    ticks: dict  # "x" / "y": list of (position, text)
    xlabel: str
    ylabel: str
    colorbar: bool

    @classmethod
    def read(cls, meta, arrays) -> _Figure:
        if not isinstance(meta, dict) or not isinstance(arrays, dict):
            raise _Unreadable("the figure description is not a dict")
        kind = meta.get("kind")
        if kind not in ("imshow", "pcolormesh", "none"):
            raise _Unreadable(f"unknown kind of plot {str(kind)[:40]!r}")
        ticks = {a: _ticks(meta.get(f"{a}ticks", []), meta.get(f"{a}ticklabels", [])) for a in "xy"}
        common = dict(
            rgb=bool(meta.get("rgb")),
            ticks=ticks,
            xlabel=_str(meta.get("xlabel")),
            ylabel=_str(meta.get("ylabel")),
            colorbar=meta.get("colorbar") is True,
        )
        if kind == "none":
            return cls(kind, shape=(0, 0), grid=None, centers={}, **common)
        grid = arrays.get("grid")
        if grid is None:  # too large to send: the shape alone says it is wrong
            shape = meta.get("shape")
            if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(n, int) for n in shape)):
                raise _Unreadable("the heatmap's values are missing")
            return cls(kind, shape=(shape[0], shape[1]), grid=None, centers={}, **common)
        grid = _float_array(grid, "the heatmap's values")
        if grid.ndim != 2:
            raise _Unreadable(f"the heatmap's values are {grid.ndim}D, not a 2D grid")
        centers = {
            "x": _float_array(arrays.get("x_centers"), "the column centres"),
            "y": _float_array(arrays.get("y_centers"), "the row centres"),
        }
        if centers["x"].shape != (grid.shape[1],) or centers["y"].shape != (grid.shape[0],):
            raise _Unreadable("the cell centres do not fit the grid")
        if not (np.isfinite(centers["x"]).all() and np.isfinite(centers["y"]).all()):
            raise _Unreadable("the cells have no finite positions")
        return cls(kind, shape=grid.shape, grid=grid, centers=centers, **common)


def _float_array(value, what: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _Unreadable(f"{what} are not numbers") from None


def _ticks(positions, texts) -> list[tuple[float, str]]:
    if not (isinstance(positions, list) and isinstance(texts, list)) or len(positions) != len(texts):
        raise _Unreadable("the tick positions and labels do not match")
    out = []
    for p, t in zip(positions, texts):
        try:
            pos = float(p) if isinstance(p, (int, float)) and not isinstance(p, bool) else math.nan
        except OverflowError:  # a JSON integer too big for a float
            pos = math.nan
        if not math.isfinite(pos):
            raise _Unreadable("a tick position is not a number")
        if _str(t).strip():
            out.append((pos, _str(t).strip()))
    return out


def _str(value) -> str:
    return value[:200] if isinstance(value, str) else ""


# -------------------------------------------------------------------------------------- the labels


def _query_axis(fig: _Figure, q_tok: list[str], k_tok: list[str]) -> str | None:
    """ "y" or "x": the axis whose tick texts are the query tokens (the other's being the key tokens).

    When both would do (self-attention: the same tokens on both axes), the axis labels decide
    ("query" on y, or "key" on x, means y), and without a word in them the lesson's rows = queries.
    """
    texts = {a: Counter(t for _, t in fig.ticks[a]) for a in "xy"}
    fits = [qa for qa, ka in (("y", "x"), ("x", "y")) if texts[qa] == Counter(q_tok) and texts[ka] == Counter(k_tok)]
    if len(fits) < 2:
        return fits[0] if fits else None
    x_says_query = bool(_QUERY_WORDS.search(fig.xlabel)) or bool(_KEY_WORDS.search(fig.ylabel))
    y_says_query = bool(_QUERY_WORDS.search(fig.ylabel)) or bool(_KEY_WORDS.search(fig.xlabel))
    return "x" if x_says_query and not y_says_query else "y"


def _missing_labels(fig: _Figure, q_tok: list[str], k_tok: list[str], query_axis: str | None) -> str | None:
    parts = []
    if query_axis is None:
        xs, ys = ([t for _, t in sorted(fig.ticks[a])] for a in "xy")
        parts.append(
            TICKS_MISSING.format(
                xs=_shown(xs), ys=_shown(ys), L=len(q_tok), Q=_shown(q_tok), S=len(k_tok), K=_shown(k_tok)
            )
        )
    empty = [a for a, text in (("x", fig.xlabel), ("y", fig.ylabel)) if not text.strip()]
    if empty:
        which = "x and y axis labels are" if len(empty) == 2 else f"{empty[0]} axis label is"
        parts.append(AXIS_LABELS_MISSING.format(which=which))
    if not parts:
        return None
    return "; ".join(parts) + "."


def _shown(tokens: list[str]) -> str:
    if not tokens:
        return "none"
    head = ", ".join(repr(t[:30]) for t in tokens[:MAX_SHOWN])
    return f"[{head}{', …' if len(tokens) > MAX_SHOWN else ''}]"


# ---------------------------------------------------------------------------------------- the data


def _check_labelled(
    fig: _Figure, w: np.ndarray, q_tok: list[str], k_tok: list[str], qa: str, atol: float, drawn_as=None
) -> str | None:
    """Read the grid through its tick labels, query axis `qa`; None if every cell shows its weight."""
    L, S = w.shape
    ka = "x" if qa == "y" else "y"
    if fig.grid is None:
        raise _Unreadable("the heatmap's values are missing")
    if fig.shape != ((L, S) if qa == "y" else (S, L)):  # rows run along y
        return SHAPE_VS_LABELS.format(rows=fig.shape[0], cols=fig.shape[1], qaxis=qa, L=L, **_transposed(qa))
    q_cells, problem = _cells(fig, qa, "query")
    if problem:
        return problem
    k_cells, problem = _cells(fig, ka, "key")
    if problem:
        return problem

    def read(q_index, k_index):  # (L, S): what the reader sees under (query i, key j)
        seen = np.full((L, S), np.nan)
        qi, qc = np.array(q_index), np.array([c for c, _ in q_cells])
        kj, kc = np.array(k_index), np.array([c for c, _ in k_cells])
        cells = fig.grid[np.ix_(qc, kc)] if qa == "y" else fig.grid[np.ix_(kc, qc)].T  # (L, S)
        seen[np.ix_(qi, kj)] = cells
        return seen

    candidates = [read(qi, kj) for qi in _token_indices(q_cells, q_tok) for kj in _token_indices(k_cells, k_tok)]
    if any(_close(seen, w, atol) for seen in candidates):
        return None
    seen = candidates[0]
    err = np.where(np.isnan(seen), np.inf, np.abs(seen - w))
    i, j = np.unravel_index(int(np.argmax(err)), err.shape)
    got = "nothing (NaN)" if np.isnan(seen[i, j]) else f"{seen[i, j]:.2f}"
    return CELL_MISMATCH.format(
        q=repr(q_tok[i][:30]),
        k=repr(k_tok[j][:30]),
        got=got,
        i=i,
        j=j,
        want=w[i, j],
        hint=_hint(seen, w, qa, atol, drawn_as),
    )


def _cells(fig: _Figure, axis: str, role: str) -> tuple[list[tuple[int, str]], str | None]:
    """Each tick's cell index along `axis` (nearest centre), sorted by cell, or a problem."""
    centres = fig.centers[axis]  # (n,)
    gaps = np.abs(np.diff(centres))
    cells = []
    for pos, text in fig.ticks[axis]:
        c = int(np.argmin(np.abs(centres - pos)))
        near = [g for g in (gaps[c - 1] if c > 0 else None, gaps[c] if c < len(gaps) else None) if g is not None]
        width = min(near) if near else math.inf
        if abs(pos - centres[c]) > TICK_SLACK * width:
            shown = ", ".join(f"{x:g}" for x in centres[:MAX_SHOWN]) + (", …" if len(centres) > MAX_SHOWN else "")
            return [], TICK_OFF_CELL.format(role=role, tok=repr(text[:30]), axis=axis, pos=pos, centres=shown)
        cells.append((c, text))
    cells.sort()
    for (c1, a), (c2, b) in zip(cells, cells[1:]):
        if c1 == c2:
            return [], TICKS_SHARE_CELL.format(role=role, a=repr(a[:30]), b=repr(b[:30]), axis=axis)
    return cells, None


def _token_indices(cells: list[tuple[int, str]], tokens: list[str]) -> list[list[int]]:
    """Which token each tick (in cell order) stands for; a repeated token is matched by occurrence.

    The k-th tick reading "the" is the k-th "the" of the tokens, counted from the first cell, or
    from the last (for a drawing that runs the other way). Without repeats both are the same.
    """
    where: dict[str, list[int]] = {}
    for idx, t in enumerate(tokens):
        where.setdefault(t, []).append(idx)
    options = []
    for order in (cells, cells[::-1]):
        used = Counter()
        index = {}
        for c, text in order:
            index[c] = where[text][used[text]]
            used[text] += 1
        option = [index[c] for c, _ in cells]
        if option not in options:
            options.append(option)
    return options


def _hint(seen: np.ndarray, w: np.ndarray, qa: str, atol: float, drawn_as=None) -> str:
    if seen.shape[0] == seen.shape[1] and _close(seen, w.T, atol):
        return HINT_TRANSPOSED.format(qaxis=qa, **_transposed(qa))
    flips = {"query labels": w[::-1], "key labels": w[:, ::-1], "query and key labels": w[::-1, ::-1]}
    for which, flipped in flips.items():
        if _close(seen, flipped, atol):
            return HINT_FLIPPED.format(which=which)
    if _close(np.sort(seen, axis=None), np.sort(w, axis=None), atol):
        return HINT_MOVED
    drawn = drawn_as(seen, w, atol) if drawn_as is not None and not np.isnan(seen).any() else None
    if drawn is not None:  # the describer's words for how it relates to the weights, and the fix
        return HINT_DESCRIBED.format(what=drawn[0].lower() + drawn[1:].rstrip("."))
    return HINT_OTHER


def _transposed(qa: str) -> dict:
    if qa == "y":
        return {"drawn": "weights.T", "fix": "Rows are queries: draw weights itself, so that row i is query i."}
    return {"drawn": "weights", "fix": "With the queries along x, draw weights.T, so that column i is query i."}


def _check_unlabelled(grid: np.ndarray | None, w: np.ndarray, atol: float) -> str | None:
    """Without usable labels: the grid must be the weights in some orientation (transposed, flipped)."""
    if grid is None:
        raise _Unreadable("the heatmap's values are missing")
    variants = {}
    for name, m in (("weights", w), ("weights.T", w.T)):
        for flip, f in (
            ("", m),
            (" flipped up-down", m[::-1]),
            (" flipped left-right", m[:, ::-1]),
            (" rotated 180°", m[::-1, ::-1]),
        ):
            if f.shape == grid.shape:
                variants[name + flip] = f
    errors = {name: float(np.max(np.where(np.isnan(grid), np.inf, np.abs(grid - f)))) for name, f in variants.items()}
    nearest = min(errors, key=errors.get)
    if errors[nearest] <= atol:
        return None
    err = errors[nearest]
    off = f"is off by up to {err:.2f}" if math.isfinite(err) else "differs by an empty (NaN) cell"
    return UNLABELLED_MISMATCH.format(nearest=nearest, off=off)


def _close(a: np.ndarray, b: np.ndarray, atol: float) -> bool:
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= atol))  # nan is never close
