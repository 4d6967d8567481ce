"""`check(fn)`: instant feedback in a student's notebook. Never used for grades.

    from attnlab import check
    check(qk_scores)

It runs the task's public cases right here, in the student's own kernel, with the same case runner and
the same judge as the grader, and prints pass or fail; where the task lost points, the hint follows. In a
notebook the hint is displayed as HTML, which wraps between words, with a plain-text twin (`hint_bundle`);
elsewhere it is printed. Because it runs in the student's process, the student can fool it; that is fine,
since grades come only from ``attnlab grade``.

It is a guest in that kernel and leaves matplotlib's backend and settings as it found them: its picture
of a mistake is drawn on a figure with its own Agg canvas and shown as a PNG, so the student's later
``plt.show()`` draws as before. It returns a `CheckResult`, which shows no ``Out[...]`` under the cell.

check() judges the one function it is given. Where ``attention`` fails only because the student's
``qk_scores`` is wrong, it fails here (``attnlab grade`` would not charge it, and would say "fix
qk_scores first"); ``check(qk_scores)`` names the mistake itself.

Students' images install the student build (``attnlab.student_build``), which has no reference answers:
it reads the public cases, the expected values and the mistake models' outputs from data. There check()
says exactly what it says in the full install, on the public seed. What it cannot do is run on another
seed (``check(fn, seed=7)`` is an error), and the judge there has no callee replay, which only
``attnlab grade`` uses.
"""

from __future__ import annotations

import html
import inspect
import textwrap
import time
from dataclasses import dataclass

from .child.ahead import TimeUp, import_ahead, modules_named, time_limit
from .tasks import TASKS

RESULT = "{mark} {task}: {score:g}/{max_score:g} {status}"
#: The hint in a notebook, filled with the escaped hint: a paragraph, wrapped between words.
HINT_HTML = '<p style="white-space: normal; word-break: normal; overflow-wrap: break-word; margin: 0">{hint}</p>'
HINT_WIDTH = 88  # characters per line of the hint's plain text


def _task_for(fn, course):
    name = getattr(fn, "__name__", None)
    for t in course.tasks:
        if t.function == name or t.id == name:
            return t
    raise ValueError(
        f"check() needs one of the course's functions ({', '.join(t.function for t in course.tasks)}), got {name!r}"
    )


def case_devices(course) -> list[str]:
    """The devices check() makes cases for: cpu, and cuda where the course lists it (pending without a GPU)."""
    return ["cpu", "cuda"] if "cuda" in course.devices else ["cpu"]


def run_in_process(fn, task, course, seed: int):
    """Run one task's cases on `fn` in this process and judge them; returns a judge.TaskResult."""
    from .child.detectors import Detectors
    from .child.replies import Status, error_info
    from .child.worker import Worker
    from .judging.cases import make_cases
    from .judging.judge import judge_task
    from .judging.patterns import runtime_patterns

    worker = Worker(None)
    worker.ns = getattr(fn, "__globals__", None) or getattr(getattr(fn, "forward", None), "__globals__", {})
    detect = Detectors(worker.torch, runtime_patterns(course.forbidden_for(task.id)))
    cases = make_cases(task.id, seed, course.dtypes, case_devices(course))
    replies, tensors = {}, {}
    cuda = worker.torch.cuda.is_available()
    # What its code imports in function bodies is imported first, untimed, as the grader does (`child.ahead`).
    import_ahead(modules_named(_sources(fn)), course.limits.load_seconds / 2)
    for c in cases:
        if c.device == "cuda" and not cuda:
            replies[c.id] = {"status": Status.PENDING}
            continue
        local = {k: v.clone() for k, v in c.tensors.items()}
        t0 = time.perf_counter()
        try:
            with time_limit(course.limits.task_seconds):
                meta, out = worker.run_case(
                    fn, {**c.spec, "device": c.device}, local, detect, list(TASKS[task.id].callees)
                )
        except TimeUp:
            meta, out = {"status": Status.ERROR, "error": {"type": TimeUp.__name__}}, {}
        except Exception as e:  # noqa: BLE001 - the student's exceptions are feedback
            meta, out = {"status": Status.ERROR, "error": error_info(e)}, {}
        if _timed_out(meta):  # the runner reports what it caught as the student's exception: not this one
            replies[c.id] = {"status": Status.TIMEOUT}
            return judge_task(
                task,
                cases,
                replies,
                tensors,
                course,
                failure={"status": "timeout", "case": c.label, "seconds": course.limits.task_seconds},
            )
        meta["seconds"] = time.perf_counter() - t0
        replies[c.id], tensors[c.id] = meta, out
    return judge_task(task, cases, replies, tensors, course)


def _sources(fn) -> list[str]:
    """The source of `fn` (a function or a class) and of the functions and classes of its module that it
    names, and so on: what the student's call may run. What has no source to read is left out."""
    home = getattr(fn, "__module__", None)  # the student's own module (a notebook's: __main__), never a library's
    seen, todo, out = set(), [fn], []
    while todo:
        obj = todo.pop()
        if id(obj) in seen or not (inspect.isfunction(obj) or inspect.isclass(obj)) or obj.__module__ != home:
            continue
        seen.add(id(obj))
        try:
            out.append(textwrap.dedent(inspect.getsource(obj)))
        except (OSError, TypeError):
            continue
        functions = [obj] if inspect.isfunction(obj) else [f for f in vars(obj).values() if inspect.isfunction(f)]
        for f in functions:
            todo += [f.__globals__[n] for n in _names(f.__code__) if n in f.__globals__]
    return out


def _names(code) -> set[str]:
    """The global names `code` and the code nested in it (comprehensions, lambdas, inner functions) read."""
    nested = [c for c in code.co_consts if inspect.iscode(c)]
    return set(code.co_names).union(*(_names(c) for c in nested))


def _timed_out(meta: dict) -> bool:
    """Whether the time limit ran out in this case, in the forward pass or in the backward one."""
    errors = [meta.get("error"), (meta.get("grads") or {}).get("error")]
    return any((e or {}).get("type") == TimeUp.__name__ for e in errors)


@dataclass(frozen=True, repr=False)
class CheckResult:
    """What check() returns: the task's id, its score out of max_score, and its status (passed, partial, ...).

    True when the task passed, so ``assert check(qk_scores)`` and ``if check(qk_scores):`` work. Its repr is
    the line check() printed (``FAIL qk_scores: 3.33/15 partial``). In a notebook it displays nothing: the
    line is printed already, and a cell ending in ``check(...)`` gets no ``Out[...]``.
    """

    task: str
    score: float
    max_score: float
    status: str

    def __bool__(self) -> bool:
        return self.status == "passed"

    def __repr__(self) -> str:
        return RESULT.format(
            mark="PASS" if self else "FAIL",
            task=self.task,
            score=round(self.score, 2),
            max_score=round(self.max_score, 2),
            status=self.status,
        )

    def _ipython_display_(self) -> None:
        """IPython calls this instead of showing the repr as the cell's result; check() has printed it."""


def check(fn, *, seed: int | None = None, course=None) -> CheckResult:
    """Check one of your functions (or MultiHeadAttention) on the public cases.

    Prints the verdict (``PASS qk_scores: 15/15 passed``), and where the task lost points, the hint and, in a
    notebook, a picture of the mistake. Returns a `CheckResult`, true when the task passed.
    """
    said, result = _judged(fn, seed=seed, course=course)
    print(repr(said))
    if not said:
        _explain(result)
    return said


def verdict(fn, *, course=None) -> CheckResult:
    """check()'s verdict on `fn` over the public cases, printing and showing nothing: how a later lesson asks
    whether a function of an earlier one is done (``attnlab.earlier_lessons``)."""
    return _judged(fn, seed=None, course=course)[0]


def _judged(fn, *, seed: int | None, course) -> tuple[CheckResult, object]:
    from .course import load_course

    course = course or load_course()
    task = _task_for(fn, course)
    result = run_in_process(fn, task, course, course.public_seed if seed is None else seed)
    return CheckResult(task=task.id, score=result.score, max_score=result.max_score, status=result.status), result


def hint_bundle(feedback: str) -> dict[str, str]:
    """The hint as an IPython display bundle: ``text/html``, which the notebook wraps between words, and
    ``text/plain``, broken between words at `HINT_WIDTH` characters, for a front end that shows only text.

    JupyterLab shows printed text in a ``<pre>`` that may break a line mid-word ("temper / ature"); an HTML
    paragraph breaks between words. The hint holds text from the student's code (an exception's message,
    a name, a value), so every character of it is escaped in the HTML.
    """
    plain = textwrap.fill(feedback, HINT_WIDTH, break_long_words=False, break_on_hyphens=False)
    return {"text/html": HINT_HTML.format(hint=html.escape(feedback, quote=True)), "text/plain": plain}


def _explain(result) -> None:
    """The hint, and in a notebook the picture of the mistake under it (a PNG); elsewhere the hint alone, printed."""
    if not _in_notebook():
        print(result.feedback)
        return
    from IPython.display import Image, display

    from .reporting.pictures import task_png

    display(hint_bundle(result.feedback), raw=True)
    png = task_png(result)
    if png is not None:
        display(Image(data=png, format="png"))


def _in_notebook() -> bool:
    """Whether check() runs under IPython (a notebook's kernel, or IPython in a terminal, which shows text/plain)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None
