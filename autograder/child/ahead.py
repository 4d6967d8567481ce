"""Imports ahead: the modules a submission's functions import in their bodies, imported while it loads.

A plot function that says ``import seaborn`` in its body pays for that import on its first call. On a cold,
busy machine the first import of seaborn (and pandas under it) can take seconds, and that first call runs
inside the task's time limit: a correct heatmap would time out. So the worker imports every module the
submission names, anywhere in its code, once its cells have run (`modules_named`, `import_ahead`), and
each task's child inherits them. check() does the same for the one function it runs.

Only what the code names in an ``import`` statement is imported, and only where it imports: a module that
fails here is left alone, and the student's call meets the same error when it imports it itself. The
imports run on a budget of their own (`time_limit`), never charged to a task.

Child zone: the standard library only; nothing here judges.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator


class TimeUp(BaseException):
    """Raised inside the code that ran past a `time_limit`; a BaseException, so `except Exception` misses it."""


@contextlib.contextmanager
def time_limit(seconds: float, error: type[BaseException] = TimeUp) -> Iterator[None]:
    """Raise `error` in the code inside once `seconds` of wall time have passed. SIGALRM-based, so only in
    the main thread on POSIX; elsewhere there is no limit."""
    if seconds <= 0 or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(*_):
        raise error()

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def modules_named(sources: Iterable[str]) -> list[str]:
    """The absolute modules that an ``import`` statement anywhere in `sources` names, inside functions and
    classes too, each once, in order. ``from a import b`` names ``a`` and ``a.b`` (b may be a submodule).
    Relative imports, ``__future__`` and code that does not parse are left out."""
    found: dict[str, None] = {}
    for source in sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(dict.fromkeys(a.name for a in node.names))
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module != "__future__":
                found[node.module] = None
                found.update(dict.fromkeys(f"{node.module}.{a.name}" for a in node.names if a.name != "*"))
    return list(found)


def import_ahead(names: Iterable[str], seconds: float) -> list[str]:
    """Import each module of `names` that is not imported yet, on `seconds` of wall time in all; those
    imported, in order. A name that is no module (``from a import function``), or that does not import,
    is skipped; so is the rest once the time is up."""
    done: list[str] = []
    end = time.monotonic() + seconds
    todo = [n for n in names if n not in sys.modules]
    if not todo:
        return done
    with contextlib.suppress(TimeUp), time_limit(seconds):
        for name in todo:
            if time.monotonic() >= end:
                break
            if name in sys.modules:
                continue
            try:
                if importlib.util.find_spec(name) is None:  # (it raises where the name above is no package)
                    continue
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the student's own call imports it, and meets the error itself
                continue
            done.append(name)
    return done
