"""The answers zone: everything that computes answers besides the reference. Never shipped to students.

The student build (``attnlab.student_build``) leaves this folder out, as it leaves out ``reference/``;
the trusted side reaches it only through ``attnlab.grading.cases.answers()``, which is None there.

- ``cases.py``: every task's cases drawn from a seed, answered by the reference (`draw_cases`);
- ``mistakes.py``: the mistake models the diagnosis rules compare with (`applicable`, `mistake`);
- ``knobs.py``: the reference with a knob turned (``attnlab.tasks.Knob``), which the describer compares with;
- ``replay.py``: the callee replay (`Replay`, `rebound`, `reference_shapes`, `reference_raises`).
"""

from .cases import draw_cases
from .mistakes import applicable, mistake
from .replay import Replay, rebound, reference_raises, reference_shapes

__all__ = ["draw_cases", "applicable", "mistake", "Replay", "reference_raises", "reference_shapes", "rebound"]
