"""What a task is: its public contract (`TaskSpec`), and the whole of it (`Task`), as one module defines it.

A task is one module that defines ``TASK = Task(...)``: its contract, its reference, its case builder, and
optionally its named slips, mistake models and knobs. attnlab's own eight are such modules, in the answers zone
(``attnlab/answers/tasks/``); a course's own are the same, in the course's folder (``attnlab.task_api``,
docs/own_task.md). Only the contract is public. The judge, the diagnoses and the describer read it from
`TASKS`; nothing else here names a task.

`TASKS` holds attnlab's own contracts, read from ``contracts.json``: the answers zone's modules write it
(``python -m attnlab.answers.tasks``, which tests/unit/test_tasks.py checks is current), so that this module
needs nothing but the standard library, the CLI can start its child process before anything heavy is
imported, and the student build, which ships no answers, has the contracts as well. A course's own task's
contract joins TASKS when course.yml is loaded (`register_spec`); TASK_IDS stays attnlab's own eight. One id
names a task everywhere: the module, the stub, the nbgrader grade_id, course.yml, the pytest marker, the JSON
report and the diagnosis catalogue.

Adding one of attnlab's own means: its module in ``answers/tasks/`` (listed in that package's ``__init__``),
its reference in ``reference/attention.py`` (which the lessons' solutions and the self-check run), its
diagnosis rules where it has some (``judging/rules/<task id>.py``: they are public, so the student build carries
them),
and ``python -m attnlab.answers.tasks`` to write its contract here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Knob:
    """A setting of a task's reference that a student may have set otherwise: the describer
    (``attnlab.judging.describe``) tries each value and names the one that gives the student's numbers.

    The words are public (they go into a hint); how the reference is run with the knob turned is not
    (``attnlab.answers.knobs``), since the reference is one turn away."""

    #: "diagonal", "args": with a value, the mistake model "knob:NAME=VALUE" in ``attnlab.answers.knobs``.
    name: str
    #: (value, what the student's output then is, in words): "k=q" -> "q @ q^T / sqrt(d): q where k belongs".
    choices: tuple[tuple[str, str], ...]
    #: The output it is compared on.
    output: int = 0


@dataclass(frozen=True)
class TaskSpec:
    id: str
    #: The name the student defines (a function, or a class for a module task).
    function: str
    #: The contract's names of its positional arguments, for messages about an input.
    args: tuple[str, ...]
    #: The contract's names of its outputs, in order.
    outputs: tuple[str, ...]
    #: The student's own functions it may call: their calls are recorded, so that a mistake in one is
    #: charged to that function's task only (``attnlab.answers.replay``).
    callees: tuple[str, ...] = ()
    #: Of those, the ones the reference caller takes in the callee replay (the rest are reached through them).
    replayed: tuple[str, ...] = ()
    #: What to compute instead of a placeholder (the ``constant_output`` diagnosis).
    todo: str = "compute the output from the inputs"
    #: What its computation cannot do without ("matmul", "exp"): right values whose op trace lacks it were not
    #: watched (the canary, ``attnlab.judging.excuses.trace_gap``). () asks for any op at all; None checks nothing.
    computes: tuple[str, ...] | None = None
    #: The lesson that teaches it, as its folder and notebook are named: later lessons read it from there
    #: (``attnlab.earlier_lessons``).
    lesson: str = ""
    #: For each output, the names of its last dimensions, singular ("query", "key"): how the describer says
    #: where a wrong output is wrong. The dimensions before them, if any, are named "batch item".
    axes: tuple[tuple[str, ...], ...] = ()
    #: The outputs that are weights summing to 1 along dim ``case.extra["dim"]`` (-1 where it has none).
    distributions: tuple[str, ...] = ()
    #: The reference's knobs that the describer tries (`Knob`).
    knobs: tuple[Knob, ...] = ()

    @property
    def lesson_number(self) -> str:
        """'1' for lesson1_qk_scores: how a student names the lesson."""
        return self.lesson.removeprefix("lesson").split("_", 1)[0]

    def knob(self, name: str) -> Knob:
        return next(k for k in self.knobs if k.name == name)

    def output_name(self, i: int) -> str:
        return self.outputs[i] if i < len(self.outputs) else f"#{i}"

    def arg_name(self, i: int) -> str:
        return self.args[i] if i < len(self.args) else f"#{i}"


@dataclass(frozen=True)
class Slip:
    """A named mistake of a course task: `model(case)` gives the student's outputs with the slip put in (float64
    tensors or bool masks, one per output, of any shape), or None where the slip does not apply to that case. It
    reads the case's tensor arguments in ``case.tensors[name]`` and its plain values in ``case.extra[name]``."""

    #: Its catalogue id, unique in the course: "alibi_slopes_reversed".
    id: str
    #: A few words for the class report: "the heads' slopes in reverse order".
    title: str
    #: What the student reads where it matches: what is wrong and how to put it right.
    hint: str
    model: Callable


@dataclass(frozen=True)
class Task:
    """A whole task, as its module defines it (``TASK = Task(...)``). Everything but `spec` is secret: the
    student build ships the contract and the public cases, never the module."""

    spec: TaskSpec
    #: The reference: the contract's function (or module class) as a right student writes it, returning the
    #: contract's dtype (a tuple for several outputs); `call_case` hands it float tensors in float64, so that the
    #: expected values are exact. Where another task lists its function among its callees, the callee replay
    #: (``attnlab.answers.replay``) runs it in place of a student's callee it has no record for.
    reference: Callable
    #: cases(draw, dtypes, devices) -> list[Case]: every case of the task, deterministic from `draw`'s seed.
    cases: Callable
    #: Named slips (`Slip`): each is named where its model gives the student's wrong outputs.
    slips: tuple[Slip, ...] = ()
    #: knob_model(name, value, case) -> the output ``spec.knob(name).output`` with that knob at that value, or None
    #: where the knob does not fit the case.
    knob_model: Callable | None = None
    #: knob_fits(name, value, case) -> whether the knob is worth trying on the case; without it, every knob is.
    knob_fits: Callable | None = None
    #: For rules of the diagnosis catalogue (``judging/rules/``, attnlab's own tasks): mistake_models(case) ->
    #: the mistake models that apply to a case ("wrong_dim:0"), and mistake_model(case, id, argument) -> what one
    #: gives, the one output the rules compare. Written against the reference's module as ``ref``, which the
    #: callee replay may stand in for.
    mistake_models: Callable | None = None
    mistake_model: Callable | None = None
    #: Where the module was loaded from (set by ``attnlab.task_api.load_task``).
    source: str = field(default="", compare=False)


class TaskIdTaken(ValueError):
    """A course task's id is one of attnlab's own."""


def register_spec(spec: TaskSpec) -> None:
    """Put a course task's contract where attnlab looks tasks up (``attnlab.task_api.install``; in the student
    build, from its public cases). Registering the same id again replaces it: course.yml may be loaded twice."""
    if spec.id in TASK_IDS:
        raise TaskIdTaken(f"task id {spec.id!r} is one of attnlab's own tasks: choose another")
    TASKS[spec.id] = spec


def spec_to_data(spec: TaskSpec) -> dict:
    """A contract as plain JSON data: how the student build carries a course task's (`spec_from_data`)."""
    return asdict(spec)


def spec_from_data(data: dict) -> TaskSpec:
    tuples = {k: tuple(v) for k, v in data.items() if isinstance(v, list) and k != "knobs" and k != "axes"}
    knobs = tuple(
        Knob(k["name"], tuple(tuple(c) for c in k["choices"]), k.get("output", 0)) for k in data.get("knobs", ())
    )
    axes = tuple(tuple(a) for a in data.get("axes", ()))
    return TaskSpec(**{**data, **tuples, "knobs": knobs, "axes": axes})


#: Where attnlab's own tasks' contracts are written (``python -m attnlab.answers.tasks``).
CONTRACTS = Path(__file__).with_name("contracts.json")

#: Every task's contract, by id: attnlab's own, in course order, then a course's own (`register_spec`).
TASKS: dict[str, TaskSpec] = {
    d["id"]: spec_from_data(d) for d in json.loads(CONTRACTS.read_text(encoding="utf-8"))["tasks"]
}

#: attnlab's own tasks, in course order. A course's own tasks (``attnlab.task_api``) join TASKS when course.yml
#: is loaded, never this.
TASK_IDS = tuple(TASKS)
