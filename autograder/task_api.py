"""The public task API: a course's own task, written as one module, and how attnlab takes it in.

An instructor's task is a Python file in the course's folder that defines ``TASK``::

    from attnlab.task_api import Task, TaskSpec, call_case

    def alibi_bias(n_heads, seq_len): ...                 # the reference, float64

    def cases(draw, dtypes, devices):                     # deterministic from `draw`'s seed
        return [call_case("alibi_bias", "h4", "n_heads = 4, seq_len = 6", [("n_heads", 4), ("seq_len", 6)],
                          alibi_bias)]

    TASK = Task(TaskSpec("alibi_bias", "alibi_bias", args=("n_heads", "seq_len"), outputs=("bias",)),
                reference=alibi_bias, cases=cases)

and course.yml names it (a path relative to course.yml)::

    tasks:
      - id: alibi_bias
        points: 10
        module: tasks/alibi_bias.py

- **The contract** is a `TaskSpec`: the task id, the function (or module class) the student defines, its
  arguments and outputs by name, the names of each output's last dimensions (``axes``, how the describer says
  where an output is wrong), the outputs that are weights (``distributions``), and any callees.
- **The reference** computes the outputs in float64 from the case's inputs; it never ships to students.
- **The cases** come from ``cases(draw, dtypes, devices)``: `Draw` makes seeded inputs, `call_case` makes a
  case of a function call and has the reference answer it (outputs, and gradients where asked). The
  student build holds the public seed's cases as data, with the contract; never this module.
- **Named slips** (optional): a `Slip` rebuilds the student's outputs with one mistake put in; where a
  student's outputs match it on a failing case, the feedback names it in the slip's own words. Without any,
  the describer (``attnlab.judging.describe``) still says how a wrong output relates to the expected one:
  off by a factor, heads in reverse order, shifted by one, a sign flipped.
- **Knobs** (optional): ``TaskSpec.knobs`` says a setting of the reference in words; ``knob_model(name,
  value, case)`` computes the reference with it turned, for the describer to compare with.

`load_task(path)` imports such a module, on the trusted side only (it holds the reference), and `install`
registers the task where attnlab looks tasks up, beside attnlab's own eight, which are modules of this same
kind (``attnlab/answers/tasks/``): the contract (``attnlab.tasks.TASKS``), the whole task (``answers.REGISTRY``:
its cases, slips, knobs and reference, which the callee replay runs where another task calls its function), and
the slips' words (the diagnosis catalogue, with a rule that names them). ``attnlab.course.load_course`` does both
for every task of course.yml with a ``module``; in the student build it registers the contract it finds in the
public cases.

May import the contract (``attnlab.tasks``) and the grading side's Case and catalogue, and reaches the answers
zone, whose public face this is, through its one door (``judging.cases.answers``); the student build ships
none of it, and importing it there says so in one line.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import sys
import types
from collections.abc import Callable
from pathlib import Path

import torch

from .judging.case import Case
from .judging.cases import answers, forget_cases, make_cases
from .tasks import TASK_IDS, TASKS, Knob, Slip, Task, TaskSpec, register_spec

_ZONE = answers()  # the answers zone, through its one door (``judging.cases.answers``)
if _ZONE is None:
    raise ImportError("attnlab.task_api needs the full install (the instructors'): this is the student build")
REGISTRY, Draw, f64, grads_of, rebound = _ZONE.REGISTRY, _ZONE.Draw, _ZONE.f64, _ZONE.grads_of, _ZONE.rebound

__all__ = [
    "Case",
    "Draw",
    "Knob",
    "Slip",
    "Task",
    "TaskError",
    "TaskSpec",
    "call_case",
    "check_task",
    "current",
    "install",
    "installed",
    "load_task",
    "solution_source",
    "uninstall",
]


class TaskError(ValueError):
    """A course task's module is missing or does not define a usable TASK; the message is one line."""


def call_case(
    task_id: str,
    cid: str,
    label: str,
    args: list[tuple[str, object]],
    reference: Callable,
    *,
    dtype: str = "float32",
    device: str = "cpu",
    grad: bool = False,
    draw: Draw | None = None,
    extra: dict | None = None,
    probe: str = "",
    exact: Callable | None = None,
) -> Case:
    """A case that calls the student's function with `args` ((name, tensor or plain value), in order), answered
    by `reference` in float64 from the same inputs (tensor inputs are passed to it in float64; where a task takes
    none, `exact`, the reference computing in float64, gives the expected values instead). With `grad` (and a
    `draw` for the upstream gradients), the student's gradients with respect to the floating-point tensor
    arguments are compared with the reference's.

    Where the task's spec lists callees (the student's own functions it may call), the case records what they
    returned, and the grader replays them through `reference` (a function that calls them by name, as the
    contract's functions do), so that a wrong callee is charged to its own task only."""
    spec_args, tensors, values = _call_args(args, grad)
    task = TASKS.get(task_id)
    spec: dict = {"kind": "call", "args": spec_args}
    recompute = None
    if task is not None and task.callees:
        spec["record_callees"] = True

        def recompute(**callees):
            out = rebound(reference, callees)(*values)
            return list(out) if isinstance(out, tuple) else [out]

    out = (exact or reference)(*values)
    outs = out if isinstance(out, tuple) else (out,)
    expected = [o if o.dtype == torch.bool else o.to(torch.float64) for o in outs]  # a mask stays a mask
    named = {name: value for name, value in args if not isinstance(value, torch.Tensor)}
    case = Case(
        task_id,
        cid,
        label,
        "call",
        spec,
        tensors,
        dtype,
        device,
        expected,
        recompute=recompute,
        probe=probe,
        extra={**named, **(extra or {})},
    )
    floats = [i for i, (_, v) in enumerate(args) if isinstance(v, torch.Tensor) and v.is_floating_point()]
    if grad and floats:
        if draw is None:
            raise TaskError(f"{task_id} case {cid}: grad=True needs draw=, to draw the upstream gradients")
        _add_grads(case, reference, values, floats, draw)
    return case


def _call_args(args: list[tuple[str, object]], grad: bool) -> tuple[list, dict, list]:
    """(the spec's args, the tensors to send, the reference's values: floating tensors in float64)."""
    spec_args, tensors, values = [], {}, []
    for name, value in args:
        if isinstance(value, torch.Tensor):
            tensors[name] = value
            floating = value.is_floating_point()
            spec_args.append({"t": name, "grad": bool(grad and floating)} if floating else {"t": name})
            values.append(f64(value) if floating else value)
        else:
            spec_args.append({"v": value})
            values.append(value)
    return spec_args, tensors, values


def _add_grads(case: Case, reference: Callable, values: list, floats: list[int], draw: Draw) -> None:
    """Upstream gradients drawn for each output, and the reference's gradients with respect to the floating-point
    arguments `floats`, on `case`."""
    ups = [draw.randn(*e.shape, dtype="float64") for e in case.expected]
    for j, up in enumerate(ups):
        case.tensors[f"up{j}"] = up
    case.spec["grad"] = {"upstream": [f"up{j}" for j in range(len(ups))], "args": floats}

    def fn(*leaves):
        full = list(values)
        for i, leaf in zip(floats, leaves):
            full[i] = leaf
        return reference(*full)

    g = grads_of(fn, [values[i] for i in floats], ups)
    case.expected_grads = {f"arg.{i}": gi for i, gi in zip(floats, g)}


def load_task(path: str | Path) -> Task:
    """The `Task` that the module at `path` defines as ``TASK``. Trusted side only: it runs the module."""
    path = Path(path)
    if not path.is_file():
        raise TaskError(f"{path}: no such task module")
    name = f"attnlab_course_task_{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TaskError(f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickles look a module up by name
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - an instructor's module: say what broke, in one line
        del sys.modules[name]
        raise TaskError(f"{path}: importing it raised {type(e).__name__}: {e}") from None
    task = getattr(module, "TASK", None)
    if not isinstance(task, Task):
        raise TaskError(f"{path}: define TASK = attnlab.task_api.Task(...) at the top level")
    return dataclasses.replace(task, source=str(path))


def install(task: Task) -> None:
    """Register `task` everywhere attnlab looks a task up. A built-in task's id cannot be taken; installing the
    same course task again (course.yml loaded twice) replaces it."""
    from .judging import diagnose
    from .judging.excuses import NEEDS

    tid = task.spec.id
    if tid in TASK_IDS:
        raise TaskError(f"{task.source or tid}: task id {tid!r} is one of attnlab's own tasks: choose another")
    unknown = [c for c in task.spec.computes or () if c not in NEEDS]
    if unknown:
        raise TaskError(f"{task.source or tid}: computes {unknown[0]!r} is none of {', '.join(NEEDS)}")
    own = {s.id for s in _INSTALLED[tid].slips} if tid in _INSTALLED else set()  # installed again: its own ids
    for s in task.slips:
        if s.id in diagnose.CATALOGUE and s.id not in own:
            raise TaskError(f"{task.source or tid}: slip id {s.id!r} is taken: choose another")
    if tid in _INSTALLED:
        uninstall(tid)  # what the module held before goes with it: a slip since removed is named no more
    register_spec(task.spec)
    _INSTALLED[tid] = task
    if task.source:
        _LOADED_AT[tid] = Path(task.source).stat().st_mtime_ns
    REGISTRY[tid] = task
    forget_cases()  # a task installed anew (another module for the id) draws its cases anew
    diagnose.add_slips(tid, [(s.id, s.title, s.hint) for s in task.slips])


def check_task(task_id: str, seed: int, dtypes: list[str], devices: list[str]) -> None:
    """Build an installed course task's cases for `seed` and run its slips' models on them, so that a mistake in
    the module is one line when course.yml is loaded, not a traceback in the middle of grading a class."""
    task = installed(task_id)
    where = task.source or task_id
    try:
        cases = make_cases(task_id, seed, dtypes, devices)
    except Exception as e:  # noqa: BLE001 - the instructor's builder: say what broke, in one line
        raise TaskError(f"{where}: cases() raised {type(e).__name__}: {e}") from None
    if not isinstance(cases, list) or not cases or not all(isinstance(c, Case) for c in cases):
        raise TaskError(f"{where}: cases() must return a list of cases (call_case makes one)")
    for c in cases:
        if c.task != task_id:
            raise TaskError(f"{where}: case {c.id!r} is for task {c.task!r}: pass call_case the spec's id, {task_id!r}")
        if isinstance(c.expected, list) and len(c.expected) != len(task.spec.outputs):
            n, want = len(c.expected), len(task.spec.outputs)
            raise TaskError(f"{where}: case {c.id!r}: the reference gives {n} outputs, the spec names {want}")
    if len({c.id for c in cases}) != len(cases):
        raise TaskError(f"{where}: two cases share an id: give each case its own")
    for slip in task.slips:
        for c in cases:
            if c.kind not in ("call", "module"):
                continue
            try:
                outs = slip.model(c)
            except Exception as e:  # noqa: BLE001
                raise TaskError(f"{where}: slip {slip.id!r} raised {type(e).__name__}: {e} on case {c.id!r}") from None
            if outs is not None and (not isinstance(outs, (list, tuple)) or len(outs) != len(task.spec.outputs)):
                want = len(task.spec.outputs)
                raise TaskError(f"{where}: slip {slip.id!r} must return a list of {want} outputs (or None) on {c.id!r}")


def uninstall(task_id: str) -> None:
    """Take a course task out of every registry `install` put it in (a test's clean-up; a second course)."""
    from .judging import diagnose

    if task_id in TASK_IDS:
        raise TaskError(f"task {task_id!r} is one of attnlab's own tasks")
    for sid in [did for did, (t, _) in diagnose.CATALOGUE.items() if t == task_id]:
        del diagnose.CATALOGUE[sid]
        diagnose.TITLES.pop(sid, None)
    for registry in (TASKS, _INSTALLED, _LOADED_AT, REGISTRY, diagnose.RULES):
        registry.pop(task_id, None)
    forget_cases()


#: The course tasks installed in this process, by id.
_INSTALLED: dict[str, Task] = {}


def current(task_id: str, path: str | Path) -> bool:
    """Whether `task_id` is installed from the module at `path` as the file is now: course.yml loaded again (the
    pytest plugin loads it twice) need not run the module again, nor draw every task's cases anew."""
    task = _INSTALLED.get(task_id)
    if task is None or not task.source:
        return False
    try:
        here, then = Path(path).resolve(), Path(task.source).resolve()
        return here == then and here.stat().st_mtime_ns == _LOADED_AT.get(task_id)
    except OSError:
        return False


#: When each installed task's module file was last changed, as `install` saw it.
_LOADED_AT: dict[str, int] = {}


def installed(task_id: str) -> Task:
    """The course task `install` registered under `task_id`."""
    return _INSTALLED[task_id]


def solution_source(task: Task) -> str:
    """The reference as a student's file would hold it, for the self-check's known-correct submission
    (``attnlab.running.selfcheck``) and the student build's leak scan: the reference function and every function
    of its module it calls, in the order the module defines them, after the modules they use (``import numpy as
    np``) and the module's plain constants they read (``OFFSET = 1``). The sandboxed child, which cannot import
    attnlab, runs it after attnlab's own reference, which defines qk_scores, softmax_with_temperature, causal_mask
    and attention and imports torch and math."""
    home = task.reference.__module__
    needed, todo = {}, [task.reference]
    while todo:
        fn = todo.pop()
        if fn.__name__ in needed:
            continue
        needed[fn.__name__] = fn
        for name in fn.__code__.co_names:
            other = fn.__globals__.get(name)
            if isinstance(other, types.FunctionType) and other.__module__ == home:
                todo.append(other)
    imports, constants = {}, {}
    for fn in needed.values():
        for name in fn.__code__.co_names:
            if name in needed or name not in fn.__globals__:
                continue
            value = fn.__globals__[name]
            if isinstance(value, types.ModuleType) and not value.__name__.startswith("attnlab"):
                imports[name] = f"import {value.__name__}" + (f" as {name}" if name != value.__name__ else "")
            elif _plain(value):
                constants[name] = f"{name} = {value!r}"
    ordered = sorted(needed.values(), key=lambda f: f.__code__.co_firstlineno)
    head = "\n".join([*sorted(imports.values()), *constants.values()])
    return (head + "\n\n\n" if head else "") + "\n\n".join(inspect.getsource(f) for f in ordered)


def _plain(value) -> bool:
    """A constant that its repr writes back: numbers, strings, None, and tuples and lists of them."""
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))
