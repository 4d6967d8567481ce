"""Pictures of a task's mistake: yours, the expected one, and where they differ.

For a task that loses points, `task_figure` draws the first failing case that has numbers to show:
- tensors (scores, weights, outputs): three heatmaps, "yours", "expected" and "|yours - expected|",
  of the first 2-D slice (leading batch dimensions at index 0);
- `causal_mask`: your mask next to the expected one, True cells filled;
- `plot_attention`: the grid your heatmap drew next to the weights it should show.

A case that raised, hung or returned no tensor has no picture; its words say enough. The title names the
task, the case and the likely mistakes in words (`diagnose.TITLES`), never catalogue ids. A panel with no
finite value (every value NaN or inf) says so in words instead of drawing a colour bar, whose range would
be made up.

Figures are made off screen: a `matplotlib.figure.Figure` with its own Agg canvas, never through pyplot
or `matplotlib.use`. check() draws inside the student's kernel, whose backend and plots stay theirs.
`task_png` returns the picture as PNG bytes, for `attnlab grade --report`, nbgrader feedback and check().
"""

from __future__ import annotations

import io
import math
import textwrap

import torch

from ..judging.diagnose import TITLES
from ..judging.judge import TaskResult
from ..tasks import TASKS

MAX_CELLS = 64  # per side: a bigger slice is cut to its top-left corner, which the title says
DIFFERENCE = "|yours - expected|"  # the third panel's title: drawn on a scale of its own, from 0


def _slice2d(t: torch.Tensor) -> torch.Tensor:
    t = t.detach().to(torch.float64).cpu()
    while t.dim() > 2:
        t = t[0]
    if t.dim() == 1:
        t = t.unsqueeze(0)
    if t.dim() == 0:
        t = t.reshape(1, 1)
    return t[:MAX_CELLS, :MAX_CELLS]


def _axes_words(which: str) -> tuple[str, str]:
    """(row, column) words for an output: weights and scores are queries by keys."""
    if which == "output":
        return "query", "feature"
    if which == "pe":
        return "position", "feature"
    return "query", "key"


def _panels(task: TaskResult):
    """The failing case with the most to see: (label, row word, column word, [(title, 2-D array)])."""
    found = list(_candidates(task))
    return max(found, key=lambda c: c[3][0][1].numel()) if found else None


def _candidates(task: TaskResult):
    for r in task.cases:
        if r.passed or r.pending or r.skipped:
            continue
        case = r.case
        if case.kind == "plot":
            grid = r.tensors.get("fig.grid")
            if grid is not None and case.expected:
                yield (
                    case.label,
                    "row",
                    "column",
                    [
                        ("what your heatmap drew", _slice2d(grid)),
                        ("weights it should show", _slice2d(case.expected[0])),
                    ],
                )
            continue
        if case.kind not in ("call", "module") or not r.got or not isinstance(case.expected, list):
            continue
        # Weights say more than outputs, so look at them first where a task returns both.
        order = [1, 0] if len(case.expected) == 2 else range(len(case.expected))
        for i in order:
            got, exp = r.got[i] if i < len(r.got) else None, case.expected[i]
            if got is None or not isinstance(exp, torch.Tensor) or got.shape != exp.shape:
                continue
            g, e = _slice2d(got), _slice2d(exp)
            if torch.equal(g.nan_to_num(0.0), e.to(torch.float64).nan_to_num(0.0)):
                continue  # this output is right; show one that is not
            rows, cols = _axes_words(TASKS[case.task].output_name(i))
            if exp.dtype == torch.bool:
                yield case.label, rows, cols, [("your mask", g), ("expected mask", e.to(torch.float64))]
                break
            which = TASKS[case.task].output_name(i)
            yield (
                case.label,
                rows,
                cols,
                [(f"your {which}", g), (f"expected {which}", e), (DIFFERENCE, (g - e).abs())],
            )
            break


def task_figure(task: TaskResult):
    """A matplotlib Figure (on its own Agg canvas) for a task that lost points, or None when there is nothing to draw.

    Of the failing cases, the one with the largest slice is drawn: a 1 x 1 mask shows nothing. The title names
    the task, the case and the likely mistakes in words (`diagnose.TITLES`). A panel with no finite value says
    so in words, where a colour bar would show a made-up range.
    """
    if task.status == "passed":
        return None
    found = _panels(task)
    if found is None:
        return None
    label, rows, cols, panels = found
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    width = 3.2 * len(panels) + 0.6
    fig = Figure(figsize=(width, 3.4), layout="constrained")
    FigureCanvasAgg(fig)  # the figure's own canvas: no pyplot, no backend switch in the caller's process
    axes = fig.subplots(1, len(panels))
    finite = [p[1][torch.isfinite(p[1])] for p in panels[:2]]
    lo = min((float(f.min()) for f in finite if f.numel()), default=0.0)
    hi = max((float(f.max()) for f in finite if f.numel()), default=1.0)
    for ax, (title, arr) in zip(axes, panels):
        difference = title == DIFFERENCE
        empty = nothing_finite(arr, difference=difference)
        if empty:
            ax.set_title(title, fontsize=10)
            ax.text(0.5, 0.5, empty, ha="center", va="center", fontsize=9, transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            if arr.numel():  # the shape its image would have had, within reason, so that the panels line up
                ax.set_box_aspect(min(max(arr.shape[0] / arr.shape[1], 0.4), 2.5))
            continue
        if difference:  # from 0, so that a difference that is the same everywhere shows no made-up range
            vmin, vmax, cmap = 0.0, float(arr[torch.isfinite(arr)].max()) or 1.0, "magma"
        else:
            vmin, vmax, cmap = lo, hi, "viridis"
        image = ax.imshow(arr.numpy(), cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(title if torch.isfinite(arr).all() else title + "\n(white: NaN or inf)", fontsize=10)
        ax.set_xlabel(cols)
        ax.set_ylabel(rows)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(suptitle(task, label, width=int(width * 12)), fontsize=10)
    return fig


def suptitle(task: TaskResult, label: str, width: int = 80) -> str:
    """The picture's title: the task and the case, then its likely mistakes in words, wrapped at `width` characters.

    Words, never catalogue ids: ``qk_scores: (2, 4, 16, 64) float32`` over ``scores not divided by sqrt(d)``.
    """
    words = "; ".join(dict.fromkeys(TITLES[d.id] for d in task.diagnoses[:3] if d.id in TITLES))
    lines = [f"{task.id}: {label}"]
    if words:
        lines += textwrap.wrap(words, width, break_long_words=False, break_on_hyphens=False)
    return "\n".join(lines)


def nothing_finite(arr: torch.Tensor, *, difference: bool = False) -> str:
    """Words for a panel with no finite value to draw ("" where it has one): a colour bar would show a range of
    nothing. For the difference panel, that means yours or the expected value is NaN or inf in every cell."""
    if bool(torch.isfinite(arr).any()):
        return ""
    if difference:
        return "nothing finite to compare:\nin every cell, yours or the\nexpected value is NaN or inf"
    if arr.numel() == 0:
        return "nothing to draw:\nthere are no values"
    kinds = [w for w, m in (("NaN", arr.isnan()), ("inf", arr == math.inf), ("-inf", arr == -math.inf)) if m.any()]
    return "nothing finite to draw:\nevery value is " + " or ".join(kinds)


def task_png(task: TaskResult) -> bytes | None:
    """`task_figure` as PNG bytes (100 dpi), or None when there is nothing to draw."""
    fig = task_figure(task)
    if fig is None:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()
