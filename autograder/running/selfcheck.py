"""The self-check: before it grades anyone, the grader grades a known-correct submission, here.

A grader that gives correct work zero is the worst bug a course can meet, and it comes from the machine,
not the code: a runtime the sandbox hides, a memory cap a library cannot live with, a GPU driver the
worker cannot reach. So `ensure` grades the reference itself (``attnlab.reference``: every task, as a
student's file, through the same zygote, sandbox and judge as everyone else) and refuses to go on unless
it scores full:

    SelfCheckFailed: attnlab: refusing to grade: a known-correct submission scores 62.5/100 here
    (qk_scores crashed: ...); run `attnlab doctor`

It runs once per environment: the verdict is cached under ``$XDG_CACHE_HOME/attnlab`` (else
``~/.cache/attnlab``), keyed by the interpreter, attnlab's version and location, the sandbox mode, the
device option and the course's settings. Only passes are cached; a failure is checked again next time.
``attnlab grade``, ``attnlab check``, the pytest plugin and ``nbgrader autograde`` (``TrustedGrades``)
call it; ``attnlab doctor`` runs it uncached and shows the result.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

from ..course import Course
from ..version import __version__

CACHE_NAME = "selfcheck.json"


class SelfCheckFailed(RuntimeError):
    """The known-correct submission lost points here; the message is one line and says what to run."""


def known_correct(course: Course | None = None) -> tuple[str, str]:
    """(file name, source) of the known-correct submission: the reference, which defines every task, and the
    reference of each of the course's own tasks (``attnlab.task_api.solution_source``)."""
    from ..reference import SOURCE

    source = SOURCE.read_text(encoding="utf-8")
    own = course.own_tasks if course is not None else []
    if own:
        from ..task_api import installed, solution_source

        source += "".join(f"\n\n{solution_source(installed(t.id))}\n" for t in own)
    return "known_correct.py", source


def cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "attnlab" / CACHE_NAME


def key(mode: str, course: Course, device: str) -> str:
    """What the verdict depends on: this interpreter and install, the sandbox, the device and the course."""
    parts = {
        "python": os.path.realpath(sys.executable),
        "attnlab": __version__,
        "package": str(Path(__file__).resolve().parent),
        "mode": mode,
        "device": device,
        "course": course.model_dump(mode="json"),
        # a course's own task's module, as it is now: an instructor who edits its reference is checked again
        "own": {t.id: _digest(t.module) for t in course.own_tasks},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _digest(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def _cached(k: str) -> bool:
    try:
        return k in json.loads(cache_file().read_text())
    except (OSError, ValueError, TypeError):
        return False


def _remember(k: str, result: dict) -> None:
    """Add a pass to the cache file; an unwritable cache only means the check runs again next time."""
    path = cache_file()
    try:
        try:
            seen = json.loads(path.read_text())
            seen = seen if isinstance(seen, dict) else {}
        except (OSError, ValueError):
            seen = {}
        seen[k] = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "python": sys.executable,
            "total": result["total"],
            "max_total": result["max_total"],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(seen, indent=1))
        os.replace(tmp, path)
    except OSError:
        pass


def why(result: dict) -> str:
    """One line: the score and the first task that lost points, with its first diagnosis and hint."""
    lost = [t for t in result["tasks"] if t["score"] < t["max_score"]]
    if not lost:
        return f"{result['total']:g}/{result['max_total']:g}"
    t = lost[0]
    hint = " ".join(t["feedback"].split())
    hint = hint if len(hint) <= 160 else hint[:157] + "..."
    more = f" and {len(lost) - 1} more task(s)" if len(lost) > 1 else ""
    said = " ".join(
        next((line for line in result.get("output", "").splitlines() if line.startswith("attnlab:")), "").split()
    )
    said = f"; the worker said: {said[:160]}" if said else ""
    return f"{result['total']:g}/{result['max_total']:g} ({t['id']} {t['status']}{more}: {hint}{said})"


def run(zygote, course: Course, *, device: str = "auto") -> dict:
    """Grade the known-correct submission through `zygote`; the result dict, uncached."""
    from .grade import grade_submissions
    from .submission import Submission

    name, source = known_correct(course)
    sub = Submission(Path(name), [source], notebook=False)
    (result,) = grade_submissions([sub], course=course, seed=course.public_seed, device=device, zygote=zygote)
    return result


def full(result: dict) -> bool:
    return result["max_total"] > 0 and result["total"] >= result["max_total"]


def ensure(zygote, course: Course, *, device: str = "auto") -> None:
    """Return if a known-correct submission scores full here (a pass is cached on disk); else raise SelfCheckFailed.
    What a process has learnt already (a pass, or the refusal to say again) the grading service keeps
    (``running.service.GradingService.zygote``)."""
    k = key(zygote.mode, course, device)
    if _cached(k):
        return
    result = run(zygote, course, device=device)
    if not full(result):
        own = {t.id for t in course.own_tasks}
        lost = {t["id"] for t in result["tasks"] if t["score"] < t["max_score"]}
        if lost and lost <= own:  # attnlab's own reference scores full: the course's task is what to look at
            message = (
                f"refusing to grade: the course's own task's reference, graded as a student's file, scores "
                f"{why(result)}: it must run on its own, with torch, math and its module's imports and plain "
                "constants only, and return the contract's dtype (docs/own_task.md)"
            )
        else:
            message = (
                f"refusing to grade: a known-correct submission scores {why(result)} on this machine, so "
                "correct work would lose points here too; run `attnlab doctor` to see what is broken"
            )
        raise SelfCheckFailed(message)
    _remember(k, result)
