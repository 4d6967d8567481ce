"""The mistake models: the reference rebuilt with one slip put back in. Never shipped to students.

Each task's module brings its own (``attnlab.tasks.Task``): a course task's named slips, modelled "<slip id>:<output
index>", and attnlab's own tasks' mistake models, named by the catalogue id they stand for, with an argument
after a colon where the slip comes in variants ("wrong_dim:0", the softmax along dim 0;
"mask_inverted:with_diagonal"). `applicable(case)` lists every model the diagnosis rules may ask about on a case:
the student build precomputes exactly these, and `mistake` refuses any other, so that a rule cannot come to
depend on a model the student build lacks. Rules ask for a model's output through
``attnlab.judging.diagnose.model_output``.

Remove a mistake model's slip and you have the answer, so this module is as secret as the reference. It names no
task: it asks the task's module (`REGISTRY`).
"""

from __future__ import annotations

import types

import torch

from .. import reference as ref
from ..judging.case import Case
from . import knobs
from .cases import REGISTRY


def applicable(case: Case) -> list[str]:
    """The mistake models that ``diagnose.RULES`` may compare a student's output on `case` with, and the knob
    models (``attnlab.answers.knobs``) that the describer may."""
    task = REGISTRY[case.task]
    names = []
    if task.slips and case.kind in ("call", "module"):
        outputs = len(case.expected) if isinstance(case.expected, list) else 0
        names += [f"{s.id}:{i}" for s in task.slips for i in range(outputs)]
    if task.mistake_models is not None:
        names += task.mistake_models(case)
    return names + knobs.applicable(case)


def mistake(name: str, case: Case, callees: dict | None = None) -> torch.Tensor | None:
    """What the slip `name` gives on `case`: float64 values, or a bool mask. With `callees` (name -> function),
    a task's mistake model calls those in place of the reference's own (a callee replay's: the grader's stand-ins
    for an earlier lesson's functions), on a copy: the reference is never patched."""
    if name not in applicable(case):
        raise KeyError(
            f"no mistake model {name!r} for {case.task} case {case.id}: list it in the task module's "
            "mistake_models, or the student build will not have it"
        )
    if name.startswith("knob:"):
        return knobs.build(name, case)
    task = REGISTRY[case.task]
    sid, _, i = name.rpartition(":")
    slip = next((s for s in task.slips if s.id == sid), None)
    if slip is not None:  # "<slip id>:<output>": the instructor's model, its output of that index
        outs = slip.model(case)
        return None if outs is None else outs[int(i)].to(torch.float64)
    slip_id, _, arg = name.partition(":")
    build = task.mistake_model
    if callees:
        reference = types.SimpleNamespace(**{n: getattr(ref, n) for n in dir(ref) if not n.startswith("__")})
        vars(reference).update(callees)
        build = types.FunctionType(build.__code__, {**build.__globals__, "ref": reference}, build.__name__)
    return build(case, slip_id, arg)
