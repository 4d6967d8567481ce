"""The answers zone: every task's module and what computes answers from them. Never shipped to students.

The student build (``attnlab.student_build``) leaves this folder out, as it leaves out ``reference/``;
the trusted side reaches it only through ``attnlab.judging.cases.answers()``, which is None there.

- ``tasks/``: attnlab's own eight tasks, one module each (``attnlab.tasks.Task``), registered here in
  `REGISTRY`, where ``attnlab.task_api.install`` registers a course's own;
- ``cases.py``: drawing a task's cases from a seed (`draw_cases`, `Draw`) and the helpers task modules share;
- ``mistakes.py``: the mistake models the diagnosis rules compare with (`applicable`, `mistake`);
- ``knobs.py``: the reference with a knob turned (``attnlab.tasks.Knob``), which the describer compares with;
- ``replay.py``: the callee replay (`Replay`, `rebound`, `reference_shapes`, `reference_raises`).
"""

from .cases import REGISTRY, Draw, draw_cases, f64, grads_of
from .mistakes import applicable, mistake
from .replay import Replay, rebound, reference_raises, reference_shapes
from .tasks import BUILTIN

for _task in BUILTIN:
    REGISTRY[_task.spec.id] = _task

__all__ = [
    "BUILTIN",
    "REGISTRY",
    "Draw",
    "Replay",
    "applicable",
    "draw_cases",
    "f64",
    "grads_of",
    "mistake",
    "rebound",
    "reference_raises",
    "reference_shapes",
]
