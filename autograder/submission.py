"""The one loader for submissions: a `.py` module or a `.ipynb` notebook becomes a list of code cells.

Notebook code cells keep their order. IPython magics (``%time``, a ``%%capture`` cell) and shell
lines (``!pip install``, ``files = !ls``) are replaced by ``pass`` so that the rest of the cell still
runs in plain Python. The grader then runs each cell on its own, so a scratch cell that raises does
not stop the cells after it.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path



class InputError(ValueError):
    """An unusable submission; the message is one line and names what to fix."""


@dataclass
class Submission:
    path: Path
    cells: list[str]
    notebook: bool

    @property
    def name(self) -> str:
        return str(self.path)


_MAGIC = re.compile(r"^(\s*)(%|!|\w+\s*=\s*[!%])")


def _strip_magics(source: str) -> str:
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        return ""  # a cell magic owns the whole cell
    return "\n".join(m.group(1) + "pass" if (m := _MAGIC.match(line)) else line for line in lines)


def load_submission(path: str | Path) -> Submission:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder; give a .py or .ipynb file")
    if p.suffix not in (".py", ".ipynb"):
        raise InputError(f"{p}: expected a .py module or a .ipynb notebook")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{p}: is not UTF-8 text") from None
    if p.suffix == ".py":
        return Submission(p, [text], notebook=False)
    import nbformat  # only for notebooks: it costs a second to import

    try:
        nb = nbformat.reads(text, as_version=4)
    except (json.JSONDecodeError, nbformat.reader.NotJSONError):
        raise InputError(f"{p}: is not valid notebook JSON; open it in Jupyter and save it again") from None
    except Exception as e:  # noqa: BLE001 - nbformat raises several kinds for a broken file
        raise InputError(f"{p}: is not a readable notebook ({type(e).__name__})") from None
    cells = [_strip_magics(c.source) for c in nb.cells if c.cell_type == "code"]
    return Submission(p, cells, notebook=True)


def references(sub: Submission) -> dict[str, set[str]]:
    """For each top-level function or class, the top-level names it uses, directly or through others.

    Used to tell whose fault a timeout is: an `attention` that calls a `softmax_with_temperature` that
    loops for ever times out through no fault of its own.
    """
    direct: dict[str, set[str]] = {}
    for source in sub.cells:
        try:
            tree = ast.parse(source)
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
