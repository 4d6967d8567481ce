"""course.yml: the course id, tasks and points, tolerances, devices, limits and forbidden calls.

`load_course(path)` validates the file with pydantic and raises `CourseError` with a one-line message
that names the field, for example ``course.yml: tasks.2.points: Input should be greater than 0``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from .tasks import TASK_IDS, TASKS

DTYPES = ("float64", "float32", "float16", "bfloat16")
DEFAULT_COURSE = Path(__file__).resolve().parent / "course.yml"


class CourseError(ValueError):
    """course.yml is missing or invalid; the message is one line and names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelled key is an error, never silently ignored


class Tolerance(_Strict):
    atol: float = Field(ge=0)
    rtol: float = Field(ge=0)


class Limits(_Strict):
    task_seconds: float = Field(gt=0)
    load_seconds: float = Field(gt=0)  # per notebook cell (a .py module is one cell)
    notebook_load_seconds: float = Field(default=120, gt=0)  # a whole notebook's cells together
    memory_mb: int = Field(gt=0)
    output_kb: int = Field(gt=0)
    # GPU memory one worker may take (torch.cuda.set_per_process_memory_fraction); only where cuda cases run.
    gpu_memory_mb: int = Field(default=4096, gt=0)


class Task(_Strict):
    # A course's own task (``attnlab.task_api``): the path of its module, relative to course.yml. First, so that
    # the id's check below sees it.
    module: str | None = None
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    # The contract's name (``attnlab.tasks.TASKS``); course.yml may repeat it, but not change it.
    function: str = ""
    points: float = Field(gt=0)
    forbidden: list[str] | None = None

    @field_validator("id")
    @classmethod
    def _known(cls, value: str, info: ValidationInfo) -> str:
        if value not in TASKS and info.data.get("module") is None:
            raise ValueError(
                f"{value!r} is none of attnlab's tasks ({', '.join(TASK_IDS)}): a course's own task needs "
                "module: (the path of its file)"
            )
        return value

    @model_validator(mode="after")
    def _contract_name(self, info: ValidationInfo) -> Task:
        if self.module is not None:
            _course_task(self, (info.context or {}).get("base"))
        want = TASKS[self.id].function
        if self.function and self.function != want:
            raise ValueError(f"function {self.function!r}: the contract names task {self.id!r}'s function {want!r}")
        self.function = want
        return self


class Course(_Strict):
    course_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    public_seed: int
    devices: list[Literal["cpu", "cuda"]] = Field(min_length=1)
    dtypes: list[Literal[DTYPES]] = Field(min_length=1)  # type: ignore[valid-type]
    tolerances: dict[Literal[DTYPES], Tolerance]  # type: ignore[valid-type]
    limits: Limits
    forbidden_default: list[str] = Field(default_factory=list)
    tasks: list[Task] = Field(min_length=1)

    @field_validator("tasks")
    @classmethod
    def _unique_ids(cls, tasks: list[Task]) -> list[Task]:
        seen = [t.id for t in tasks]
        dup = sorted({i for i in seen if seen.count(i) > 1})
        if dup:
            raise ValueError(f"task id {dup[0]!r} appears more than once")
        return tasks

    @model_validator(mode="after")
    def _tolerance_for_every_dtype(self) -> Course:
        missing = [d for d in self.dtypes if d not in self.tolerances]
        if missing:
            raise ValueError(f"tolerances: no entry for dtype {missing[0]!r}")
        return self

    @model_validator(mode="after")
    def _own_tasks_work(self) -> Course:
        """A course's own task's cases are built, and its slips run on them, now (the full install only)."""
        own = [t.id for t in self.own_tasks]  # never one of attnlab's own ids: `_course_task` refused those
        if not own:
            return self
        from .judging.cases import answers

        if answers() is None:
            return self
        from .notebook_check import case_devices
        from .task_api import TaskError, check_task

        for tid in own:
            try:
                check_task(tid, self.public_seed, self.dtypes, case_devices(self))
            except TaskError as e:
                raise ValueError(f"task {tid}: {e}") from None
        return self

    @property
    def own_tasks(self) -> list[Task]:
        """The course's own tasks (those with a ``module``), in course order."""
        return [t for t in self.tasks if t.module]

    def task(self, task_id: str) -> Task:
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise KeyError(task_id)

    def forbidden_for(self, task_id: str) -> list[str]:
        own = self.task(task_id).forbidden
        return list(self.forbidden_default if own is None else own)


def _course_task(task: Task, base: str | os.PathLike | None) -> None:
    """Register the course's own task `task` (its ``module``): in the full install, the module itself, run here on
    the trusted side (``attnlab.task_api``); in the student build, which has no module, the contract the build
    stored with the public cases."""
    from .judging.cases import answers

    if task.id in TASK_IDS:
        raise ValueError(f"module: task {task.id!r} is one of attnlab's own tasks: give yours another id")
    if answers() is None:
        from .judging.cases import register_public_task

        register_public_task(task.id)
        return
    from .task_api import TaskError, current, install, load_task

    path = Path(base or ".") / task.module
    if current(task.id, path):
        task.module = str(path.resolve())
        return
    try:
        loaded = load_task(path)
        if loaded.spec.id != task.id:
            raise TaskError(f"{path}: its TASK is {loaded.spec.id!r}, where course.yml says {task.id!r}")
        install(loaded)
    except TaskError as e:
        raise ValueError(f"module: {e}") from None
    task.module = str(path.resolve())  # so that the course, passed on as data (nbgrader's config), finds it again


def _first_error(err: ValidationError) -> str:
    e = err.errors()[0]
    where = ".".join(str(p) for p in e["loc"]) or "(top level)"
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        msg = "unknown key (misspelled?)"
    return f"{where}: {msg}"


def load_course(path: str | os.PathLike | None = None) -> Course:
    """Load and validate course.yml: `path`, else $ATTNLAB_COURSE, else the course.yml shipped with attnlab."""
    p = Path(path or os.environ.get("ATTNLAB_COURSE") or DEFAULT_COURSE)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CourseError(f"{p}: file not found") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise CourseError(f"{p}:{line} is not valid YAML") from None
    if not isinstance(data, dict):
        raise CourseError(f"{p}: expected a mapping of course settings at the top level")
    try:
        return Course.model_validate(data, context={"base": p.resolve().parent})
    except ValidationError as e:
        raise CourseError(f"{p.name}: {_first_error(e)}") from None
