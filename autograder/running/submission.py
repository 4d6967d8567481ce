"""The one loader for submissions: a `.py` module or a `.ipynb` notebook becomes a list of code cells.

Notebook code cells keep their order. IPython magics (``%time``, a ``%%capture`` cell) and shell
lines (``!pip install``, ``files = !ls``) are replaced by ``pass`` so that the rest of the cell still
runs in plain Python. The grader then runs each cell on its own, so a scratch cell that raises does
not stop the cells after it.

An autograder test cell (nbgrader metadata ``grade: true``, ``solution: false``) contributes no code:
it is the instructor's, and ``nbgrader autograde`` restores the hidden tests into it before grading.
What the worker may read of a notebook (``worker_view``) has those cells' sources emptied and no
outputs, so student code can never read the hidden tests back and put them in its feedback.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..judging.source import parse


class InputError(ValueError):
    """An unusable submission; the message is one line: the path, then `reason`, which names what to fix."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason


@dataclass
class Submission:
    path: Path
    cells: list[str]  # code cells in order; a test cell's is "" so that cell numbers match the notebook
    notebook: bool
    shown: dict | None = None  # a notebook as the worker may read it (worker_view); None: built from `cells`

    @property
    def name(self) -> str:
        return str(self.path)


@dataclass
class Unreadable:
    """A path that holds no submission anyone can read; `reason` is one line."""

    path: Path
    reason: str

    @property
    def name(self) -> str:
        return str(self.path)


_MAGIC = re.compile(r"^(\s*)(%|!|\w+\s*=\s*[!%])")


def _strip_magics(source: str) -> str:
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        return ""  # a cell magic owns the whole cell
    return "\n".join(m.group(1) + "pass" if (m := _MAGIC.match(line)) else line for line in lines)


def is_test_cell(cell: dict) -> bool:
    """An autograder test cell (nbgrader: grade, not solution): the instructor's, with the hidden tests in it
    once ``nbgrader autograde`` has restored them. A manually graded answer (grade and solution) is not."""
    meta = cell.get("metadata")
    nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
    return isinstance(nbgrader, dict) and bool(nbgrader.get("grade")) and not nbgrader.get("solution")


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):  # nbformat's on-disk form, where a hand edit left it
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def worker_view(nb: dict) -> dict:
    """A copy of notebook `nb` as the worker may read it: every test cell's source emptied, no outputs."""
    shown = copy.deepcopy(nb)
    for cell in shown.get("cells", []):
        if is_test_cell(cell):
            cell["source"] = ""
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return shown


def worker_notebook(sub: Submission) -> dict:
    """What the worker sees of a notebook submission: `sub.shown`, else a notebook of `sub.cells` alone."""
    if sub.shown is not None:
        return sub.shown
    cells = [
        {"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None} for c in sub.cells
    ]
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}


def repair_notebook_json(data) -> list[str]:
    """Put right, in place, what a hand edit can break in a notebook's JSON before nbformat reads it.

    nbformat refuses an nbformat or nbformat_minor that is not a whole number (``"4.5"``), and nbgrader
    and this loader then cannot read the code at all; a minor version from the future (99) is read as
    the newest one nbformat knows. A cell or metadata that is not a mapping breaks every reader after it.
    Returns what was wrong, one short phrase per repair. A notebook of another shape (nbformat 3's
    worksheets) is left to nbformat.
    """
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return []
    import nbformat

    fixes = []
    if data.get("nbformat") != 4:
        fixes.append(f"nbformat {data.get('nbformat')!r} with nbformat 4 cells (read as 4)")
        data["nbformat"] = 4
    minor = data.get("nbformat_minor")
    if isinstance(minor, bool) or not isinstance(minor, int) or not 0 <= minor <= nbformat.v4.nbformat_minor:
        fixes.append(f"nbformat_minor {minor!r} (read as {nbformat.v4.nbformat_minor})")
        data["nbformat_minor"] = nbformat.v4.nbformat_minor
    if not isinstance(data.get("metadata"), dict):
        fixes.append("notebook metadata that is not a mapping (emptied)")
        data["metadata"] = {}
    cells = [c for c in data["cells"] if isinstance(c, dict) and isinstance(c.get("cell_type"), str)]
    if len(cells) != len(data["cells"]):
        fixes.append(f"{len(data['cells']) - len(cells)} cell(s) that are not notebook cells (left out)")
        data["cells"] = cells
    for i, cell in enumerate(cells):
        if not isinstance(cell.get("metadata"), dict):
            fixes.append(f"cell {i + 1}: metadata that is not a mapping (emptied)")
            cell["metadata"] = {}
    return fixes


def read_notebook(text: str, path: str | Path):
    """The notebook in `text` (nbformat 4), after `repair_notebook_json`; InputError when it cannot be read."""
    import nbformat  # only for notebooks: it costs a second to import

    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError; nesting 100 000 deep recurses
        where = f" ({e.msg} at line {e.lineno})" if isinstance(e, json.JSONDecodeError) else ""
        raise InputError(path, f"is not valid notebook JSON{where}; open it in Jupyter and save it again") from None
    repair_notebook_json(data)
    try:
        return nbformat.reads(json.dumps(data), as_version=4)
    except Exception as e:  # noqa: BLE001 - nbformat raises several kinds for a broken file
        raise InputError(path, f"is not a readable notebook ({type(e).__name__})") from None


def load_submission(path: str | Path) -> Submission:
    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file")
    if p.is_dir():
        raise InputError(p, "is a folder; give a .py or .ipynb file")
    if p.suffix not in (".py", ".ipynb"):
        raise InputError(p, "expected a .py module or a .ipynb notebook")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(p, "is not UTF-8 text") from None
    except OSError as e:
        raise InputError(p, f"cannot be read ({e.strerror or type(e).__name__})") from None
    if p.suffix == ".py":
        return Submission(p, [text], notebook=False)
    return notebook_submission(read_notebook(text, p), p)


def notebook_submission(nb: dict, path: str | Path) -> Submission:
    """The submission in notebook `nb` (read already), graded as if it were the file at `path`."""
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    cells = ["" if is_test_cell(c) else _strip_magics(_source(c)) for c in code]
    return Submission(Path(path), cells, notebook=True, shown=worker_view(nb))


def read_submission(path: str | Path) -> Submission | Unreadable:
    """`load_submission`, with an unusable path as an `Unreadable` (its reason) instead of an exception."""
    try:
        return load_submission(path)
    except InputError as e:
        return Unreadable(Path(path), e.reason)


def references(sub: Submission) -> dict[str, set[str]]:
    """For each top-level function or class, the top-level names it uses, directly or through others.

    Used to tell whose fault a timeout is: an `attention` that calls a `softmax_with_temperature` that
    loops for ever times out through no fault of its own.
    """
    direct: dict[str, set[str]] = {}
    for source in sub.cells:
        try:
            tree = parse(source)
        except SyntaxError:
            continue
        for top in tree.body:
            if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                direct[top.name] = {n.id for n in ast.walk(top) if isinstance(n, ast.Name)} - {top.name}
    closed: dict[str, set[str]] = {}
    for name in direct:
        seen, todo = set(), [name]
        while todo:
            for used in direct.get(todo.pop(), set()):
                if used in direct and used not in seen:
                    seen.add(used)
                    todo.append(used)
        closed[name] = seen
    return closed
