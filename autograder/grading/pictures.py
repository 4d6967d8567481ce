"""Pictures of a task's mistake: yours, the expected one, and where they differ.

For a task that loses points, `task_figure` draws the first failing case that has numbers to show:
- tensors (scores, weights, outputs): three heatmaps, "yours", "expected" and "|yours - expected|",
  of the first 2-D slice (leading batch dimensions at index 0);
- `causal_mask`: your mask next to the expected one, True cells filled;
- `plot_attention`: the grid your heatmap drew next to the weights it should show.

A case that raised, hung or returned no tensor has no picture; its words say enough.

Figures are made off screen: a `matplotlib.figure.Figure` with its own Agg canvas, never through pyplot
or `matplotlib.use`. check() draws inside the student's kernel, whose backend and plots stay theirs.
`task_png` returns the picture as PNG bytes, for `attnlab grade --report`, nbgrader feedback and check().
"""

from __future__ import annotations

import io

import torch

from ..tasks import TASKS
from .judge import TaskResult

MAX_CELLS = 64  # per side: a bigger slice is cut to its top-left corner, which the title says


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
                [(f"your {which}", g), (f"expected {which}", e), ("|yours - expected|", (g - e).abs())],
            )
            break


def task_figure(task: TaskResult):
    """A matplotlib Figure (on its own Agg canvas) for a task that lost points, or None when there is nothing to draw.

    Of the failing cases, the one with the largest slice is drawn: a 1 x 1 mask shows nothing.
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

    fig = Figure(figsize=(3.2 * len(panels) + 0.6, 3.4), layout="constrained")
    FigureCanvasAgg(fig)  # the figure's own canvas: no pyplot, no backend switch in the caller's process
    axes = fig.subplots(1, len(panels))
    finite = [p[1][torch.isfinite(p[1])] for p in panels[:2]]
    lo = min((float(f.min()) for f in finite if f.numel()), default=0.0)
    hi = max((float(f.max()) for f in finite if f.numel()), default=1.0)
    for ax, (title, arr) in zip(axes, panels):
        shared = not title.startswith("|")
        image = ax.imshow(
            arr.numpy(), cmap="viridis" if shared else "magma", vmin=lo if shared else None, vmax=hi if shared else None
        )
        if not torch.isfinite(arr).all():
            title += "\n(white: NaN or inf)"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(cols)
        ax.set_ylabel(rows)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        fig.colorbar(image, ax=ax, shrink=0.8)
    ids = ", ".join(d.id for d in task.diagnoses[:3])
    fig.suptitle(f"{task.id}: {label}" + (f"\n{ids}" if ids else ""), fontsize=10)
    return fig


def task_png(task: TaskResult) -> bytes | None:
    """`task_figure` as PNG bytes (100 dpi), or None when there is nothing to draw."""
    fig = task_figure(task)
    if fig is None:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()
