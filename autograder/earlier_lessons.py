"""`earlier(name)`: a function (or class) of an earlier lesson, read from the student's own notebook of it.

    from attnlab import earlier
    qk_scores = earlier("qk_scores")  # in lesson 2, 3, 4 or 5: your qk_scores from lesson 1

Each lesson after the first uses what the lessons before it built. A student keeps each lesson's notebook
where nbgrader's Fetch put it, one folder per lesson side by side (``~/lesson1_qk_scores/``,
``~/lesson2_softmax/``, ...), so the lesson that asks for ``qk_scores`` finds its notebook in the folder
beside its own (`notebook_for`). `earlier` reads the code the student wrote there (`student_code`: every
import, function and class definition, and its own ``earlier()`` lines), runs it here, and asks check()
whether the function passes (`attnlab.notebook_check.verdict`). What it found is kept until a lesson's
notebook changes, so a lesson that reads it again, directly or through another lesson, is quick:

- it passes: the student's own function comes back, and one line says where from;
- the notebook is missing, does not define it, or it does not pass yet: one line says so, and a stand-in
  comes back that lets the lesson go on and raises `EarlierLessonMissing` ("finish lesson 1's qk_scores
  first ...") only where something calls it. A stand-in is never the answer.

It is the student's own kernel running the student's own code, as when they run that notebook. Grading
never uses it: the trusted grader's worker reads no other notebook, and there ``earlier`` gives stand-ins
with values (``attnlab.child.placeholders``), through which the grader replays the reference, so that no
lesson's grade depends on an earlier lesson's work.

Shipped in the student build; it imports nbformat, and the judge only through check().
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from .tasks import TASKS

_depth = 0  # how many earlier() calls are running: only the outermost one speaks
_found: dict[tuple, tuple] = {}  # (notebook, function, every lesson notebook's mtime) -> (function or None, why)


class EarlierLessonMissing(RuntimeError):
    """Raised by a stand-in for a function of an earlier lesson that is not done yet."""


def task_of(name: str):
    """The task whose function (or class) is `name`; ValueError naming the choices otherwise."""
    for task in TASKS.values():
        if name in (task.function, task.id):
            return task
    raise ValueError(f"earlier() takes one of {', '.join(t.function for t in TASKS.values())}, got {name!r}")


def notebook_for(task, here: Path) -> Path:
    """Where the notebook of `task`'s lesson is, seen from the folder of the lesson that asks: beside it."""
    return here.parent / task.lesson / f"{task.lesson}.ipynb"


def student_code(nb) -> str:
    """The code `earlier` runs of a lesson's notebook: from every code cell, its imports, its function and class
    definitions, and its own ``name = earlier(...)`` lines. Never a demonstration's plots, loops or training, nor
    any other statement, of the lesson's cells or the student's."""
    kept: list[ast.stmt] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue  # a cell that does not parse defines nothing; its function then is missing, and said so
        kept += [node for node in tree.body if isinstance(node, DEFINITIONS) or _reads_earlier(node)]
    return ast.unparse(ast.Module(body=kept, type_ignores=[]))


#: The statements of a lesson's notebook that `student_code` keeps.
DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _reads_earlier(node: ast.stmt) -> bool:
    """`name = earlier("...")`."""
    value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "earlier"


def with_earlier_lessons(cells: list[str], here: Path) -> list[str]:
    """`cells` (a lesson's code, as the grader loads it) with each ``name = earlier("name")`` line replaced by the
    student's own code for it from the notebook beside (`student_code`, its own earlier() lines replaced in turn),
    for the self-learner's doors, ``attnlab check`` and the pytest plugin, which grade the lesson as the
    student's kernel runs it. A line whose notebook is missing stays, and gives the grader's stand-in there.
    The trusted grader never does this: it grades the submitted notebook alone."""
    import nbformat

    done: set[Path] = set()  # notebooks already inlined: what runs before defines their functions already

    def expand(source: str, folder: Path, seen: frozenset) -> str:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return source  # the grader reports it as it is
        out: list[str] = []
        lines = source.splitlines(keepends=True)
        last = 0
        for node in tree.body:
            if not _reads_earlier(node) or not node.value.args or not isinstance(node.value.args[0], ast.Constant):
                continue
            try:
                task = task_of(node.value.args[0].value)
            except ValueError:
                continue
            path = notebook_for(task, folder)
            if not path.is_file() or path in seen:
                continue
            out.append("".join(lines[last : node.lineno - 1]))
            out.append(f"# {task.function}: from ../{task.lesson}/{task.lesson}.ipynb\n")
            if path not in done:  # one notebook's code once: it defines every function of that lesson
                done.add(path)
                out.append(expand(student_code(nbformat.read(path, as_version=4)), path.parent, seen | {path}) + "\n")
            last = node.end_lineno
        return "".join(out) + "".join(lines[last:])

    return [expand(cell, here, frozenset()) for cell in cells]


def self_check_submission(sub):
    """A submission (``running.submission``'s) as ``attnlab check`` and the pytest plugin grade it: its
    ``earlier()`` lines replaced by the student's own earlier lessons (`with_earlier_lessons`), seen from its
    folder. An unreadable one as it is. Never the trusted grader's: it grades the submitted notebook alone."""
    import dataclasses

    from .running.submission import Submission

    if not isinstance(sub, Submission):
        return sub
    return dataclasses.replace(sub, cells=with_earlier_lessons(sub.cells, Path(sub.path).resolve().parent), shown=None)


def stand_in(task, reason: str):
    """What takes the place of `task`'s function while it is not done: it raises, with `reason`, where it is called."""
    message = (
        f"{task.function} comes from lesson {task.lesson_number}, and {reason}: finish lesson "
        f"{task.lesson_number}'s {task.function} first ({task.lesson}/{task.lesson}.ipynb), then run the cell "
        f"that reads it again."
    )

    def missing(*args, **kwargs):
        raise EarlierLessonMissing(message)

    if task.function[:1].isupper():  # a class (MultiHeadAttention): its construction raises
        return type(task.function, (), {"__init__": missing, "__doc__": message})
    missing.__name__ = missing.__qualname__ = task.function
    missing.__doc__ = message
    return missing


def earlier(name: str, *, here: str | os.PathLike | None = None):
    """The student's own `name` from its lesson's notebook where it passes its check, else a stand-in (see the
    module's docstring). One line says which. `here`: the asking lesson's folder (the kernel's folder)."""
    global _depth
    task = task_of(name)
    path = notebook_for(task, Path(here) if here is not None else Path.cwd())
    shown = f"../{task.lesson}/{task.lesson}.ipynb"
    # The notebooks beside it too: a lesson's function may rest on an earlier one's, read through its notebook.
    lessons = sorted(path.parent.parent.glob("*/*.ipynb"))
    key = (str(path.resolve()), task.function, tuple((str(p), p.stat().st_mtime_ns) for p in lessons))
    if key not in _found:
        _depth += 1
        try:
            _found[key] = _read(task, path, shown)
        finally:
            _depth -= 1
    found, said = _found[key]
    if found is not None:
        _say(f"{task.function}: yours, from {shown}, which passes its check.")
        return found
    _say(f"{task.function}: {said}. This lesson goes on; a cell that calls {task.function} will say so.")
    return stand_in(task, said)


def _read(task, path: Path, shown: str) -> tuple[object, str]:
    """(the student's function from `path` where it passes its check, else None; why not, in words)."""
    import nbformat

    from .notebook_check import verdict

    if not path.is_file():
        return None, f"its notebook is not in {shown}, where Fetch puts it"
    namespace: dict = {"__name__": f"earlier_{task.lesson}"}
    cwd = os.getcwd()
    try:
        code = student_code(nbformat.read(path, as_version=4))
        os.chdir(path.parent)  # as that lesson runs: its own earlier() looks beside it
        exec(compile(code, str(path), "exec"), namespace)
    except Exception as e:  # noqa: BLE001 - the student's code: whatever it raises is what we report
        return None, f"its code in {shown} stops with {type(e).__name__}: {str(e)[:120]}"
    finally:
        os.chdir(cwd)
    found = namespace.get(task.function)
    if found is None:
        return None, f"{shown} does not define it"
    result = verdict(found)
    if not result:
        return None, f"it does not pass its check yet ({result.score:g}/{result.max_score:g})"
    return found, ""


def _say(line: str) -> None:
    if _depth == 0:
        print(line, flush=True)
