"""The test cases for every task: what a case is, and where a task's cases come from.

A `Case` is one call of a student's function. The parent makes its inputs (plain CPU tensors), sends
them with a small JSON `spec` to the child, and compares what comes back with `expected`, which the
reference computes in float64 from the very same (possibly low-precision) inputs.

`make_cases(task, seed, dtypes, devices)` gives a task's cases in either of attnlab's two builds:
- the **full install** (instructors, the trusted grader) draws them from any seed and has the
  reference answer them: ``attnlab.answers``, the folder that, with the reference, computes answers;
- the **student build** (``attnlab.student_build``, the wheel students' notebooks import for
  ``check()``) has neither the reference nor ``answers``. It holds the public cases as data
  (``public_cases.json`` and ``public_cases.safetensors``, written by `cases_to_data`): their inputs,
  the reference's outputs and gradients, and the outputs of the mistake models that the diagnosis
  rules compare with. Any seed but the public one is an error there. The manifest also holds the
  contract's signatures (`contract_params`), which the grader reads from the reference elsewhere.

Spec format, as the child (``child/worker.py``) reads it:
- ``kind``: ``call`` (a function), ``module`` (construct ``init``, load ``state``, call forward),
  ``expect_error`` (the call must raise), ``plot`` (read the drawn figure) or ``meta_device`` (run
  on meta-device inputs with every op's devices watched, to catch tensors made on the wrong device).
- ``args`` / ``kwargs``: ``{"t": name, "grad": bool}`` for a tensor, ``{"v": value}`` for a JSON
  value, ``{"float": "nan"}`` for a float JSON cannot hold, ``{"device": "meta"}`` for a device.
- ``grad``: ``{"upstream": [name or None per output], "args": [indices]}``: the child runs
  ``autograd.grad`` of the outputs with these upstream gradients.
- ``record_callees``: wrap the student's own callee functions and send back what they returned.

Cases on ``cuda`` are made whenever the course lists cuda. Where the machine has no GPU they are kept
and reported as *pending*, never dropped.
"""

from __future__ import annotations

import functools
import importlib
import json
from pathlib import Path
from types import ModuleType

import torch

from ..tasks import TASK_IDS, TASKS, register_spec, spec_from_data, spec_to_data
from .case import Case

#: The student build's data, at the package's root (next to course.yml): a JSON manifest and the tensors it names.
PUBLIC_CASES = "public_cases.json"
PUBLIC_TENSORS = "public_cases.safetensors"
SCHEMA = "attnlab.public_cases/2"


@functools.cache
def answers() -> ModuleType | None:
    """``attnlab.answers``, which computes answers from the reference; None in the student build."""
    name = f"{__package__.rsplit('.', 1)[0]}.answers"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise  # answers/ is there but broken: that must not pass for the student build
        return None


def contract_params() -> dict[str, list[str]]:
    """The contract's positional parameters of every task's function (a class: its ``__init__``'s, without
    self), by function name, as the reference defines them: the grader's test of whether a submission's
    callee is the course's task of that name (`scan.defined_as`).

    The full install reads them from the reference. The student build reads them from its data, where the
    build wrote them: they are the stubs' signatures, which the lessons show, not answers.
    """
    if answers() is None:
        return _public_data()[0]["contract"]
    from .scan import positional_params

    return dict(sorted((t.spec.function, positional_params(t.reference)) for t in answers().BUILTIN))


def make_cases(task_id: str, seed: int, dtypes: list[str], devices: list[str]) -> list[Case]:
    """All cases of one task. The seed is mixed with the task id, so tasks draw independently.

    Cached: grading a class of submissions with one seed builds each task's cases once. Nothing
    downstream changes a Case. In the student build only the public cases exist; any other seed,
    dtype list or device list raises ValueError with a one-line reason.
    """
    return _make_cases(task_id, int(seed), tuple(dtypes), tuple(devices))


def forget_cases() -> None:
    """Drop the cached cases: a course task installed anew (``attnlab.task_api.install``) draws its own."""
    _make_cases.cache_clear()


@functools.lru_cache(maxsize=64)
def _make_cases(task_id: str, seed: int, dtypes: tuple, devices: tuple) -> list[Case]:
    found = answers()
    if found is None:
        return _public_cases(task_id, seed, list(dtypes), list(devices))
    return found.draw_cases(task_id, seed, list(dtypes), list(devices))


# ------------------------------------------------------------------------------ the student build's data
# Every tensor of a case (inputs, expected outputs, gradients, tensors in `extra`, mistake models) is
# stored once in the safetensors file under "<task>/<case id>/<where>", and the manifest names it as
# {"$tensor": key}. A tensor in `extra` that is one of the case's inputs is {"$input": name}.


def cases_to_data(
    cases: dict[str, list[Case]],
    *,
    seed: int,
    dtypes: list[str],
    devices: list[str],
    version: str,
    contract: dict[str, list[str]] | None = None,
) -> tuple[dict, dict[str, torch.Tensor]]:
    """(manifest, tensors) for the student build: the given cases of each task, with their models, and the
    contract's signatures (`contract_params`)."""
    tensors: dict[str, torch.Tensor] = {}
    tasks = {}
    for task_id, task_cases in cases.items():
        tasks[task_id] = []
        for c in task_cases:
            inputs = {id(t): name for name, t in c.tensors.items()}

            def enc(value, where, inputs=inputs, prefix=f"{task_id}/{c.id}"):
                if isinstance(value, torch.Tensor):
                    if id(value) in inputs and not where.startswith("tensors/"):
                        return {"$input": inputs[id(value)]}
                    key = f"{prefix}/{where}"
                    tensors[key] = value.detach().contiguous().clone()
                    return {"$tensor": key}
                if isinstance(value, dict):
                    return {str(k): enc(v, f"{where}/{k}") for k, v in value.items()}
                if isinstance(value, (list, tuple)):
                    return [enc(v, f"{where}/{i}") for i, v in enumerate(value)]
                json.dumps(value)  # anything else must be plain JSON
                return value

            tasks[task_id].append(
                {
                    "id": c.id,
                    "label": c.label,
                    "kind": c.kind,
                    "spec": c.spec,
                    "dtype": c.dtype,
                    "device": c.device,
                    "probe": c.probe,
                    "tensors": enc(c.tensors, "tensors"),
                    "expected": enc(c.expected, "expected"),
                    "expected_grads": enc(c.expected_grads, "grads"),
                    "extra": enc(c.extra, "extra"),
                    "models": enc(c.models, "models"),
                }
            )
    own = {tid: course_task_data(tid) for tid in cases if tid not in TASK_IDS}
    manifest = {
        "schema": SCHEMA,
        "attnlab": version,
        "seed": int(seed),
        "dtypes": list(dtypes),
        "devices": list(devices),
        "tasks": tasks,
        "contract": dict(contract or {}),
        "course_tasks": own,
    }
    return manifest, tensors


def course_task_data(task_id: str) -> dict:
    """What the student build carries of a course's own task beyond its cases: its contract and its named slips'
    words (``attnlab.task_api``): public, as the built-in tasks' are in the package."""
    from .diagnose import CATALOGUE, TITLES

    slips = [[did, TITLES[did], entry[1]] for did, entry in CATALOGUE.items() if entry[0] == task_id]
    return {"spec": spec_to_data(TASKS[task_id]), "slips": slips}


def register_public_task(task_id: str) -> None:
    """In the student build: register a course's own task from its public data (`course_task_data`)."""
    from .diagnose import add_slips

    data = _public_data()[0].get("course_tasks", {}).get(task_id)
    if data is None:
        raise ValueError(f"this student build has no task {task_id!r}: rebuild it for this course.yml")
    register_spec(spec_from_data(data["spec"]))
    add_slips(task_id, [(did, title, hint.replace("{{", "{").replace("}}", "}")) for did, title, hint in data["slips"]])


def cases_from_data(manifest: dict, tensors: dict[str, torch.Tensor], task_id: str) -> list[Case]:
    """One task's cases, as `cases_to_data` stored them (without `recompute`)."""
    out = []
    for d in manifest["tasks"][task_id]:
        inputs = {name: tensors[ref["$tensor"]] for name, ref in d["tensors"].items()}

        def dec(value, inputs=inputs):
            if isinstance(value, dict):
                if set(value) == {"$tensor"}:
                    return tensors[value["$tensor"]]
                if set(value) == {"$input"}:
                    return inputs[value["$input"]]
                return {k: dec(v) for k, v in value.items()}
            if isinstance(value, list):
                return [dec(v) for v in value]
            return value

        out.append(
            Case(
                task_id,
                d["id"],
                d["label"],
                d["kind"],
                d["spec"],
                inputs,
                d["dtype"],
                d["device"],
                dec(d["expected"]),
                dec(d["expected_grads"]),
                None,
                d["probe"],
                dec(d["extra"]),
                dec(d["models"]),
            )
        )
    return out


@functools.cache
def _public_data() -> tuple[dict, dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    here = Path(__file__).resolve().parent.parent  # the package root, where the student build puts them
    try:
        manifest = json.loads((here / PUBLIC_CASES).read_text(encoding="utf-8"))
        tensors = load_file(here / PUBLIC_TENSORS)
    except FileNotFoundError:
        raise RuntimeError(
            f"this attnlab has neither the reference (attnlab.answers) nor the public cases ({here / PUBLIC_CASES}): "
            "reinstall it"
        ) from None
    if manifest.get("schema") != SCHEMA:
        raise RuntimeError(f"{PUBLIC_CASES}: schema {manifest.get('schema')!r}, expected {SCHEMA!r}: reinstall attnlab")
    return manifest, tensors


def _public_cases(task_id: str, seed: int, dtypes: list[str], devices: list[str]) -> list[Case]:
    manifest, tensors = _public_data()
    if seed != manifest["seed"]:
        raise ValueError(
            f"this is attnlab's student build, which holds only the public cases (seed {manifest['seed']}), "
            f"not seed {seed}"
        )
    if (dtypes, devices) != (manifest["dtypes"], manifest["devices"]):
        raise ValueError(
            f"this is attnlab's student build, whose cases are for dtypes {manifest['dtypes']} on "
            f"{manifest['devices']}, not {dtypes} on {devices}: rebuild it for this course.yml"
        )
    if task_id not in manifest["tasks"]:
        raise ValueError(f"this is attnlab's student build, which has no cases for task {task_id!r}")
    return cases_from_data(manifest, tensors, task_id)
