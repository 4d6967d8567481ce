"""Grading a class on a Dask cluster (``attnlab.running.dask_grading``): the same grades as one machine gives,
each submission once, even when a Dask worker is killed mid-run."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import REPO, SUBMISSIONS, build

distributed = pytest.importorskip("distributed")

from attnlab.running.classrun import ClassRun  # noqa: E402
from attnlab.running.dask_grading import PLUGIN_NAME, ZygotePlugin, dask_backend  # noqa: E402
from attnlab.running.found import Found, expand  # noqa: E402
from attnlab.running.processes import _remove as remove  # noqa: E402
from attnlab.running.results import ResultsFile  # noqa: E402

SEED = 7
TASKS = ["qk_scores", "softmax_with_temperature", "causal_mask", "attention"]  # what the mistakes below get wrong
MISTAKES = ("missing_scale.py", "mask_inverted.py", "wrong_shape.py", "exception.py", "nan_output.py")


def scores(result: dict) -> tuple:
    """What a grade is: the totals and each task's score, status and diagnoses (no timings, no output)."""
    if result["status"] != "graded":
        return (result["status"], result["reason"])
    tasks = [(t["id"], t["score"], t["max_score"], t["status"], t["diagnoses"]) for t in result["tasks"]]
    return (result["total"], result["max_total"], tasks)


@pytest.fixture(scope="module")
def found(tmp_path_factory) -> list[Found]:
    """Eleven submissions: the four examples, five mistakes, a twin of the correct one and a missing file."""
    where = tmp_path_factory.mktemp("class")
    for name in MISTAKES:
        build(SUBMISSIONS / "mistakes" / name, where)
    shutil.copy(REPO / "assignments" / "examples" / "correct.py", where / "twin_of_correct.py")
    return expand([str(REPO / "assignments" / "examples"), str(where)]) + [Found(where / "missing.py")]


@pytest.fixture(scope="module")
def serial(found, course, zygote) -> dict[str, tuple]:
    """Each submission's grade, graded here one at a time."""
    import torch

    torch.set_num_threads(1)  # this process forks (the zygote) after importing torch
    results = ClassRun(found, course=course, seed=SEED, task_ids=TASKS).grade(zygote)
    assert len({r["submission"] for r in results}) == len(found)
    return {r["submission"]: scores(r) for r in results}


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, memory_limit=0
    ) as c:
        yield c


@pytest.mark.slow
def test_a_class_graded_on_dask_gets_the_same_grades_as_here(found, course, serial, cluster):
    run = ClassRun(found, course=course, seed=SEED, task_ids=TASKS)
    results = run.grade(backend=dask_backend(cluster.scheduler_address))
    assert [r["submission"] for r in results] == [str(f.path) for f in found]  # the twins kept apart
    assert {r["submission"]: scores(r) for r in results} == serial
    assert results[0]["total"] == results[0]["max_total"] > 0  # examples/correct.py: a real grade, full marks


@pytest.mark.slow
def test_a_worker_killed_mid_run_costs_nothing(found, course, serial, cluster, tmp_path):
    watcher = distributed.Client(cluster.scheduler_address, set_as_default=False)
    seen: Counter[int] = Counter()
    killed: dict = {}

    def progress(item, result, stored):
        seen[item.index] += 1
        if not killed:  # the first result is in: kill a worker that is grading another one
            killed.update(kill_a_busy_worker(watcher))

    try:
        with ResultsFile(tmp_path / "r.jsonl") as results_file:
            run = ClassRun(found, course=course, seed=SEED, task_ids=TASKS, results=results_file)
            results = run.grade(progress=progress, backend=dask_backend(cluster.scheduler_address))
    finally:
        watcher.close()
    assert killed["grading"], killed  # the dead worker took a grade with it, which another had to redo
    assert seen == Counter(range(len(found)))  # each submission came back once
    assert {r["submission"]: scores(r) for r in results} == serial
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert sorted(line["path"] for line in lines) == sorted(str(f.path) for f in found)  # one line each
    assert gone(killed["zygote"], within=10), f"the killed worker's zygote {killed['zygote']} outlived it"
    remove(Path(killed["workroot"]))  # what a zygote killed with its worker leaves behind


def kill_a_busy_worker(client) -> dict:
    """SIGKILL the process of a Dask worker that is grading something; its pid, its zygote's and its tasks."""
    busy = {w: keys for w, keys in client.processing().items() if keys}
    address, keys = next(iter(busy.items()), (None, []))
    assert address, "no worker was grading anything when the first result came"

    def pids(dask_worker):
        zygote = dask_worker.plugins[PLUGIN_NAME].service._zygote
        return os.getpid(), zygote.proc.pid, str(zygote.workroot)

    pid, zygote, workroot = client.run(pids, workers=[address])[address]
    os.kill(pid, signal.SIGKILL)
    return {"worker": pid, "zygote": zygote, "workroot": workroot, "grading": list(keys)}


def gone(pid: int, within: float) -> bool:
    """Whether `pid` exits (or is left a zombie, which no one here reaps) within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def test_without_distributed_the_backend_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` raises ImportError
    with pytest.raises(RuntimeError, match=r"pip install 'attnlab\[dask\]'"):
        dask_backend("tcp://127.0.0.1:8786")


def test_an_unreachable_scheduler_is_one_line_naming_its_address():
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    start = time.monotonic()
    with pytest.raises(RuntimeError) as failed:
        dask_backend(address, connect_timeout=1)
    assert time.monotonic() - start < 10
    message = str(failed.value)
    assert address in message and "\n" not in message, message


class FakeZygote:
    """A process to watch, in a zygote's place."""

    mode = "auto"

    def __init__(self):
        self.proc = subprocess.Popen(["sleep", "60"])
        self.closed = False

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.closed = True


def test_the_plugin_replaces_a_dead_zygote_and_closes_its_own(monkeypatch, course):
    from attnlab.running import service

    checked = []
    monkeypatch.setattr(service, "Zygote", FakeZygote)
    monkeypatch.setattr(service, "ensure", lambda zygote, course, device: checked.append((zygote, device)))
    plugin = pickle.loads(pickle.dumps(ZygotePlugin()))  # as the scheduler ships it
    plugin.setup(SimpleNamespace(address="tcp://worker:1"))
    first = plugin.service._zygote  # started with the worker, before any task
    assert isinstance(first, FakeZygote)
    assert plugin.checked_zygote(course, "cpu") is first
    first.proc.kill()
    first.proc.wait()
    second = plugin.checked_zygote(course, "cpu")
    assert second is not first and first.closed
    assert checked == [(first, "cpu")]  # the new zygote runs on the same machine: its pass still holds
    plugin.teardown(SimpleNamespace(address="tcp://worker:1"))
    assert second.closed and plugin.service is None


def test_a_failed_self_check_on_a_worker_names_the_worker(monkeypatch, course):
    from attnlab.running.selfcheck import SelfCheckFailed

    def refuse(zygote, course, device):
        raise SelfCheckFailed("refusing to grade: a known-correct submission scores 0/100 on this machine")

    from attnlab.running import service

    monkeypatch.setattr(service, "Zygote", FakeZygote)
    monkeypatch.setattr(service, "ensure", refuse)
    plugin = ZygotePlugin()
    plugin.setup(SimpleNamespace(address="tcp://worker:1"))
    try:
        with pytest.raises(SelfCheckFailed, match=r"^on Dask worker tcp://worker:1: refusing to grade"):
            plugin.checked_zygote(course, "auto")
    finally:
        plugin.teardown(None)


def test_an_address_that_is_none_says_so():
    with pytest.raises(ValueError, match="not a Dask scheduler address: 'scheduler'"):
        dask_backend("scheduler")
