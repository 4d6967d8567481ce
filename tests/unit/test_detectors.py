"""the worker's detectors, in this process (no child): what a worker binds before student code loads, what it records
inside callees, and the trace that the parent's canary reads."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from attnlab.child import wire
from attnlab.child.worker import Worker
from attnlab.judging.cases import make_cases
from attnlab.judging.excuses import trace_gap
from attnlab.judging.patterns import runtime_patterns
from attnlab.running.grade import _namespaced
from attnlab.tasks import TASKS
from safetensors.torch import save

from .fakes import COURSE, SEED

BASE = (Path(__file__).resolve().parents[1] / "submissions" / "base.py").read_text()
TORCH_SOFTMAX = (
    "\n\ndef softmax_with_temperature(scores, temperature=1.0, dim=-1):\n"
    "    return torch.softmax(scores / temperature, dim=dim).nan_to_num(0.0)\n"
)


class Quiet:
    """Detectors that watch nothing, as a submission would put in the runner's place."""

    def __init__(self, *args, **kwargs):
        self.hits = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def take(self, start):
        return []

    def trace(self):
        return {"ops": [], "dispatch": 0, "function": 0}

    def report(self):
        return [], False


@pytest.fixture
def runner():
    from attnlab.child import worker

    return worker  # the module whose names a worker binds when it is made


def _worker(source: str):
    worker = Worker(None)
    ns = {"__name__": "submission"}
    exec(compile(source, "student.py", "exec"), ns)
    worker.ns = ns
    return worker


def _run(worker, task_id: str) -> dict:
    """`Worker.run` on the task's first case with values, over a socket pair as the parent sends it: its reply."""
    task = COURSE.task(task_id)
    case = next(c for c in make_cases(task_id, SEED, COURSE.dtypes, ["cpu"]) if c.kind in ("call", "module"))
    header = {
        "op": "run",
        "function": task.function,
        "callees": list(TASKS[task_id].callees),
        "cases": [{"id": case.id, "device": "cpu", **_namespaced(case.spec, case.id)}],
        "forbidden": runtime_patterns(COURSE.forbidden_for(task_id)),
    }
    payload = save({f"{case.id}.{k}": v.contiguous() for k, v in case.tensors.items()})
    parent, worker.chan = socket.socketpair()
    frames: list = []

    def read():
        while not frames or frames[-1].get("op") != "done":
            frames.append(wire.recv(parent)[0])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        worker.run(header, payload)
    finally:
        reader.join(10)
        parent.close()
        worker.chan.close()
    (reply,) = [f for f in frames if f.get("op") == "case"]
    return reply


def test_a_worker_keeps_the_detectors_it_bound_before_the_submission_loaded(runner, monkeypatch):
    worker = _worker(BASE + TORCH_SOFTMAX)
    monkeypatch.setattr(runner, "Detectors", Quiet)  # what the submission does once it has found the runner
    reply = _run(worker, "softmax_with_temperature")
    assert "softmax" in reply["forbidden"]
    assert trace_gap("softmax_with_temperature", reply["trace"]) == ""


def test_control_a_worker_made_after_the_swap_sees_nothing_and_only_the_canary_tells(runner, monkeypatch):
    monkeypatch.setattr(runner, "Detectors", Quiet)
    reply = _run(_worker(BASE + TORCH_SOFTMAX), "softmax_with_temperature")
    assert reply["forbidden"] == [] and not reply["evasion"]
    assert trace_gap("softmax_with_temperature", reply["trace"]) == "torch's dispatcher saw no operation"


def test_detectors_use_the_torch_machinery_bound_before_the_submission_loaded(runner, monkeypatch):
    """A submission that swaps torch's mode classes and stack getters changes nothing for a worker made before."""
    import torch.overrides
    import torch.utils._python_dispatch as python_dispatch

    class Inert:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    worker = _worker(BASE + TORCH_SOFTMAX)
    monkeypatch.setattr(torch.overrides, "TorchFunctionMode", Inert)
    monkeypatch.setattr(python_dispatch, "TorchDispatchMode", Inert)
    monkeypatch.setattr(python_dispatch, "_get_current_dispatch_mode_stack", lambda: [])
    reply = _run(worker, "softmax_with_temperature")
    assert "softmax" in reply["forbidden"] and not reply["evasion"]
    assert trace_gap("softmax_with_temperature", reply["trace"]) == ""


def test_a_callee_s_forbidden_calls_are_recorded_as_the_callee_s_not_deleted(runner):
    reply = _run(_worker(BASE + TORCH_SOFTMAX), "attention")
    assert reply["forbidden"] == []  # attention's own
    assert "softmax" in reply["callee_forbidden"]["softmax_with_temperature"]
    assert trace_gap("attention", reply["trace"]) == ""


def test_an_honest_run_reports_its_trace_and_nothing_forbidden(runner):
    for task_id in ("qk_scores", "causal_mask", "multi_head_attention"):
        reply = _run(_worker(BASE), task_id)
        assert reply["forbidden"] == [] and reply["callee_forbidden"] == {}, task_id
        assert trace_gap(task_id, reply["trace"]) == "", (task_id, reply["trace"])
