"""The answers zone: everything that computes answers besides the reference. Never shipped to students.

The student build (``attnlab.student_build``) leaves this folder out, as it leaves out ``reference/``;
the trusted side reaches it only through ``attnlab.grading.cases.answers()``, which is None there.

- ``cases.py``: every task's cases drawn from a seed, answered by the reference (`draw_cases`);
- ``mistakes.py``: the mistake models the diagnosis rules compare with (`applicable`, `mistake`);
- ``knobs.py``: the reference with a knob turned (``attnlab.tasks.Knob``), which the describer compares with;
- ``replay.py``: the callee replay (`Replay`, `rebound`, `reference_shapes`, `reference_raises`).

``attnlab.task_api``, where an instructor writes a course's own task, reaches the registries here (the case
builders, `COURSE_SLIPS`, `COURSE_KNOBS`) through that same door.
"""

from .cases import BUILDERS, Draw, draw_cases, f64, grads_of
from .knobs import COURSE_KNOBS
from .mistakes import COURSE_SLIPS, applicable, mistake
from .replay import Replay, rebound, reference_raises, reference_shapes

__all__ = [
    "BUILDERS",
    "COURSE_KNOBS",
    "COURSE_SLIPS",
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
