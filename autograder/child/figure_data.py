"""Read a drawn heatmap into plain data, in the child process, so that the parent can judge it.

This file runs next to student code. It imports only the standard library, numpy and matplotlib,
never torch and nothing from attnlab (it is part of the child zone), and it judges nothing: it
only describes what is on the Axes. matplotlib's drawing modules are imported on first use (`_mpl`),
so that the zygote can load this file before them (it loads them later: `warm_drawing`).

``describe_axes(ax) -> (meta, arrays)``:

- ``meta`` is JSON-serialisable: ``kind`` ("imshow", "pcolormesh" or "none"), ``shape`` [rows, cols],
  ``xticks``/``xticklabels`` and ``yticks``/``yticklabels`` (positions in data coordinates and their
  texts, only labelled ticks inside the axis limits), ``xlabel``, ``ylabel`` and ``colorbar``.
  ``rgb`` is True when the image holds colours rather than values; ``error`` says why nothing was read.
- ``arrays`` holds float64 numpy arrays: ``grid`` (rows, cols), the cell values as stored in the
  artist (masked -> nan), and ``x_centers`` (cols,) / ``y_centers`` (rows,), each column's and row's
  cell centre in data coordinates. Rows of ``grid`` are laid out along y and its columns along x.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import matplotlib.axes

MAX_CELLS = 1_000_000  # a bigger grid is not sent; its shape is enough to tell it is wrong
MAX_TICKS = 1_000
MAX_TEXT = 200


@functools.cache
def _mpl():
    """The matplotlib package, with the drawing modules this file reads (axes, collections, figure, image)."""
    import matplotlib.axes
    import matplotlib.collections
    import matplotlib.figure
    import matplotlib.image

    return matplotlib


@functools.cache
def _meshes() -> tuple:
    """Mesh artists made by pcolormesh (QuadMesh) and by pcolor (PolyQuadMesh, matplotlib >= 3.8)."""
    mcoll = _mpl().collections
    return tuple(c for c in (mcoll.QuadMesh, getattr(mcoll, "PolyQuadMesh", None)) if c is not None)


def load_drawing() -> None:
    """Import what a plot task needs first: pyplot, the drawing modules this file reads and the Agg canvas."""
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.pyplot  # noqa: F401  (student code imports it)

    _mpl()


def warm_drawing() -> None:
    """`load_drawing`, then draw one throwaway heatmap off-screen, outside pyplot's figures, and read it, so
    that the font and the renderer are loaded too."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    load_drawing()
    fig = _mpl().figure.Figure()
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    fig.colorbar(ax.imshow(np.eye(2)), ax=ax)
    ax.set_xticks([0, 1], ["a", "b"])
    ax.set_xlabel("key")
    describe_axes(ax)


def axes_from_return(value, name: str = "your function") -> matplotlib.axes.Axes:
    """The Axes to read from what the student's plot function `name` returned: an Axes, a Figure or None (the
    current Axes)."""
    if value is None:
        import matplotlib.pyplot as plt

        return plt.gca()
    mpl = _mpl()
    if isinstance(value, mpl.axes.Axes):
        return value
    if isinstance(value, mpl.figure.FigureBase):
        plain = [a for a in value.axes if not _is_colorbar_axes(a)]
        if not plain:
            raise TypeError(f"{name} returned a Figure with no Axes: draw the heatmap and return its Axes")
        drawn = [a for a in plain if _image_artist(a) is not None]
        return (drawn or plain)[0]
    raise TypeError(f"{name} returned {type(value).__name__}: return the matplotlib Axes you drew on")


def describe_axes(ax) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, arrays) describing the heatmap on `ax`; never raises (on failure meta["kind"] is "none")."""
    try:
        return _describe(ax)
    except Exception as e:  # noqa: BLE001 - a figure we cannot read is data for the judge, not a crash
        return {"kind": "none", "error": f"{type(e).__name__}: {e}"[:MAX_TEXT]}, {}


def _describe(ax) -> tuple[dict, dict[str, np.ndarray]]:
    mpl = _mpl()
    if not isinstance(ax, mpl.axes.Axes):
        return {"kind": "none", "error": f"not an Axes: {type(ax).__name__}"}, {}
    ax.figure.canvas.draw()  # formatters fill in the tick label texts only when the figure is drawn
    meta: dict = {"kind": "none", "xlabel": _text(ax.get_xlabel()), "ylabel": _text(ax.get_ylabel())}
    meta["xticks"], meta["xticklabels"] = _labelled_ticks(ax, ax.xaxis, ax.get_xlim())
    meta["yticks"], meta["yticklabels"] = _labelled_ticks(ax, ax.yaxis, ax.get_ylim())
    artist = _image_artist(ax)
    meta["colorbar"] = _has_colorbar(ax, artist)
    if artist is None:
        meta["error"] = "no image, matshow or pcolormesh artist on the Axes"
        return meta, {}
    if isinstance(artist, mpl.image.AxesImage):
        values = artist.get_array()
        if values is not None and values.ndim == 3:
            meta.update(rgb=True, error="the image holds RGB(A) colours, not values")
            return meta, {}
        grid = _as_grid(values)
        x_centers, y_centers = _image_centers(artist, grid.shape)
        kind = "imshow"
    else:
        grid, x_centers, y_centers = _mesh_cells(artist)
        kind = "pcolormesh"
    meta["kind"], meta["shape"] = kind, [int(n) for n in grid.shape]
    if grid.size > MAX_CELLS:
        meta["error"] = f"grid of {grid.shape[0]} x {grid.shape[1]} cells is too large to send"
        return meta, {}
    return meta, {"grid": grid, "x_centers": x_centers, "y_centers": y_centers}


def _image_artist(ax):
    """The last image-like artist added to `ax`, or None."""
    found = None
    kinds = (_mpl().image.AxesImage, *_meshes())
    for child in ax.get_children():  # in the order they were added
        if isinstance(child, kinds):
            found = child
    return found


def _as_grid(values) -> np.ndarray:
    """A float64 2D array with masked cells as nan."""
    if values is None:
        raise ValueError("the artist holds no values")
    grid = np.ma.filled(np.ma.asarray(values, dtype=np.float64), np.nan)
    if grid.ndim != 2:
        raise ValueError(f"the artist holds a {grid.ndim}D array, not a 2D grid")
    return grid


def _image_centers(image, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres of an imshow/matshow image from its extent: row 0 sits at `top` when origin="upper"."""
    rows, cols = shape
    left, right, bottom, top = (float(v) for v in image.get_extent())
    if image.origin == "upper":
        bottom, top = top, bottom  # now `bottom` is the edge next to row 0
    x_centers = left + (np.arange(cols) + 0.5) * (right - left) / cols  # (cols,)
    y_centers = bottom + (np.arange(rows) + 0.5) * (top - bottom) / rows  # (rows,)
    return x_centers, y_centers


def _mesh_cells(mesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grid (rows, cols), x_centers (cols,), y_centers (rows,)) of a pcolormesh/pcolor mesh."""
    corners = np.asarray(mesh.get_coordinates(), dtype=np.float64)  # (M+1, N+1, 2) cell corners (x, y)
    values = np.ma.asarray(mesh.get_array())
    if values.shape == corners.shape[:2]:  # shading="gouraud": one value per corner
        centers = corners  # (M+1, N+1, 2)
    else:
        centers = (corners[:-1, :-1] + corners[1:, :-1] + corners[:-1, 1:] + corners[1:, 1:]) / 4  # (M, N, 2)
    if values.ndim == 1 and values.size == centers.shape[0] * centers.shape[1]:
        values = values.reshape(centers.shape[:2])  # old-style flat array
    grid = _as_grid(values)
    if grid.shape != centers.shape[:2]:
        raise ValueError(f"mesh values {grid.shape} do not fit its {centers.shape[:2]} cells")
    x_along_rows = np.abs(np.diff(centers[..., 0], axis=0)).sum()  # how much x changes down the rows
    x_along_cols = np.abs(np.diff(centers[..., 0], axis=1)).sum()
    if x_along_rows > x_along_cols:  # a mesh whose rows run along x: swap so that rows run along y
        grid, centers = grid.T, centers.transpose(1, 0, 2)
    x_centers = centers[..., 0].mean(axis=0)  # (cols,)
    y_centers = centers[..., 1].mean(axis=1)  # (rows,)
    return grid, x_centers, y_centers


def _labelled_ticks(ax, axis, limits) -> tuple[list[float], list[str]]:
    """Positions and texts of the visible, labelled ticks (major and minor) inside the axis limits."""
    if not (ax.axison and axis.get_visible()):
        return [], []
    lo, hi = sorted(float(v) for v in limits)
    slack = 1e-9 * max(1.0, hi - lo)
    positions, texts = [], []
    major = axis.get_majorticklocs(), axis.get_major_ticks
    minor = axis.get_minorticklocs(), axis.get_minor_ticks
    for locs, ticks in (major, minor):
        for loc, tick in zip(locs, ticks(len(locs))):
            shown = [t.get_text() for t in (tick.label1, tick.label2) if t.get_visible()]
            text = _text(next((s for s in shown if s.strip()), ""))
            if text.strip() and np.isfinite(loc) and lo - slack <= loc <= hi + slack:
                positions.append(float(loc))
                texts.append(text)
            if len(positions) >= MAX_TICKS:
                return positions, texts
    return positions, texts


def _has_colorbar(ax, artist) -> bool:
    if artist is not None and getattr(artist, "colorbar", None) is not None:
        return True
    return any(_is_colorbar_axes(other) for other in ax.figure.get_axes() if other is not ax)


def _is_colorbar_axes(ax) -> bool:
    return getattr(ax, "_colorbar", None) is not None


def _text(s) -> str:
    return str(s)[:MAX_TEXT]
