"""The diagnosis rules of attnlab's own tasks, one module per task, named by its id: what the task's mistakes are
called (``CATALOGUE``, ``TITLES``), and the rules that name them (``RULES``, and ``ERROR_RULE`` for a mistake that
shows only as an exception). ``attnlab.judging.diagnose`` puts them in the catalogue. A task with no rules of its
own has no module here; the others are found by their task's id, in course order.

Public, as the catalogue is: the student build runs them on its public cases. Each may import the grading side's
``diagnose``, never the answers zone. A course's own task needs none: its named slips (``attnlab.task_api.Slip``)
bring their words, and one rule names them all (``diagnose.slip_rules``).
"""

import importlib
from pathlib import Path

from ...tasks import TASK_IDS

#: In course order: the catalogue lists their ids in this order.
MODULES = tuple(
    importlib.import_module(f"{__name__}.{task_id}")
    for task_id in TASK_IDS
    if (Path(__file__).parent / f"{task_id}.py").is_file()
)
