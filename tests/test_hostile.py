"""Hostile submissions gain nothing, the run always completes, and nothing gets out of the worker.

Each hostile file is an override on the correct base submission (see conftest.build). The grader runs
it in its sandboxed child process (``attnlab.child.confine``) with short limits (ATTNLAB_TEST_TASK_SECONDS,
default 3 s per task). Where only the sandbox stands between an attack and its success, a control test
runs the same file with the sandbox off (``ATTNLAB_SANDBOX=off``) and watches it succeed: so each check
is one that can fail. A file's ``@MARKER@`` becomes a fresh mark per test, so that what the attack
leaves (processes, files) is found by that mark alone; ``@PORT@`` becomes the port of the test's
listener.

Tests are named after what they check; a control's name starts with ``test_control_``.

| #  | the attack                                                              | file (hostile/)    |
|----|-------------------------------------------------------------------------|--------------------|
| 1  | make torch's comparison helpers always say "equal"                      | patch_allclose.py  |
| 2  | return a tensor subclass that lies to comparisons                       | lying_subclass.py  |
| 3  | sys.exit while the grader loads the file                                | exit_at_import.py  |
| 4  | os._exit inside one task                                                | os_exit_in_task.py |
| 5  | an endless loop that ignores signals                                    | endless_loop.py    |
| 6  | ask for 64 GiB                                                          | memory_bomb.py     |
| 7  | flood stdout and stderr                                                 | output_flood.py    |
| 8  | print a fake perfect result                                             | fake_results.py    |
| 9  | find the reference in memory (tested in test_isolation.py)              | steal_reference.py |
| 10 | a fork bomb of 500 sleeping children                                    | fork_bomb.py       |
| 11 | a setsid, double-forked daemon writing into the host's /tmp             | orphan_daemon.py   |
| 12 | perfect-looking result files (and a .pth) in cwd, $HOME, /tmp, the      | planted_results.py |
|    | Python runtime and next to the submission                               |                    |
| 13 | search the disk and the import machinery for the answers                | disk_scan.py       |
| 14 | TCP and UDP to a listener on 127.0.0.1                                  | tcp_connect.py     |
| 15 | softmax and fused attention through torch._C, with the function layer   | torch_c_evasion.py |
|    | switched off and every name spelled past the source scan                |                    |
| 16 | rewrite its own file into a perfect answer, then crash so that the      | edit_own_file.py   |
|    | grader loads it again                                                   |                    |
| 17 | swap the runner's forbidden-call detectors for ones that see nothing    | detectors_replaced |
|    | (through sys.modules["__main__"] and gc), then torch's fused multi-head | .py                |
|    | attention through a name built from pieces                              |                    |
| 18 | the fused multi-head attention inside a helper named `attention` that   | callee_excuse.py   |
|    | no task of the run grades (lesson 4: multi_head_attention alone)        |                    |
| 19 | F.softmax inside an ungraded softmax_with_temperature that attention    | callee_excuse_     |
|    | calls (lesson 3: causal_mask, attention, plot_attention)                | softmax.py         |
| 20 | read its own notebook for the hidden tests and raise them into feedback | read_hidden_tests  |
|    | (tested in test_hidden_tests.py and through nbgrader)                   | .py                |
| 21 | a slow load, then os._exit in three tasks: each crash would cost a     | slow_crash.py      |
|    | reload (tested in test_worker_forks.py)                                 |                    |

Attacks 17 to 19 fool the forbidden-call check rather than the sandbox: their controls switch off the
grader's source scan (``scan_off``) or its rule for callees (``old_excuse``), in this parent process.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from conftest import REPO, SUBMISSIONS, TASK_SECONDS, build, task_of

HOSTILE = SUBMISSIONS / "hostile"


def hostile(name: str, tmp_path: Path, **marks) -> Path:
    """Build hostile/`name` on the base, with each `@KEY@` in it replaced by marks[KEY]."""
    path = build(HOSTILE / name, tmp_path)
    text = path.read_text()
    for key, value in marks.items():
        text = text.replace(f"@{key}@", str(value))
    path.write_text(text)
    return path


def marked_processes(mark: str) -> list[int]:
    """Processes with `mark` in their command line or environment."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        for what in ("cmdline", "environ"):
            try:
                if mark.encode() in Path(f"/proc/{pid}/{what}").read_bytes():
                    pids.append(int(pid))
                    break
            except OSError:
                pass
    return pids


def survivors(mark: str, keep: set[int] = frozenset(), wait: float = 3.0) -> list[int]:
    """Marked processes, other than `keep`, still alive after up to `wait` s (a PID namespace takes a
    moment to empty). A zombie counts as gone."""

    def alive() -> list[int]:
        pids = []
        for pid in set(marked_processes(mark)) - set(keep):
            try:
                if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    pids.append(pid)
            except OSError:
                pass
        return sorted(pids)

    deadline = time.monotonic() + wait
    while (left := alive()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def needs(zygote, *layers: str) -> None:
    """Skip where this machine's sandbox lacks a layer the check relies on (``attnlab doctor`` says why)."""
    missing = [k for k in layers if not zygote.sandbox[k][0]]
    if missing:
        pytest.skip(f"no {', '.join(missing)} here: {zygote.sandbox[missing[0]][1]}")


def traces(mark: str, *folders: Path) -> list[Path]:
    """Files named with `mark` in the host's /tmp, $HOME, site-packages, cwd and `folders`."""
    places = {
        Path("/tmp"),
        Path(tempfile.gettempdir()),
        Path.home(),
        Path(sysconfig.get_paths()["purelib"]),
        Path.cwd(),
        *folders,
    }
    return sorted(f for place in places if place.is_dir() for f in place.glob(f"*{mark}*"))


@pytest.fixture
def mark(tmp_path):
    """A fresh mark; afterwards whatever carries it (a control's daemon, planted files) is removed."""
    mark = uuid.uuid4().hex
    yield mark
    for pid in marked_processes(mark):
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    for f in traces(mark, tmp_path):
        f.unlink(missing_ok=True)


@pytest.fixture
def listener():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        s.settimeout(0.5)
        yield s


def connections(listener: socket.socket) -> int:
    n = 0
    while True:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            return n
        conn.close()
        n += 1


@pytest.fixture
def scan_off(monkeypatch):
    """The grader with its source scan switched off: what the runtime detectors and the canary catch alone."""
    import attnlab.running.grade

    monkeypatch.setattr(attnlab.running.grade, "scan_source", lambda cells, forbidden: {})


@pytest.fixture
def old_excuse(monkeypatch):
    """The grader's former rule for callees: a forbidden call inside any callee was the callee's to answer for."""
    import attnlab.judging.judge

    monkeypatch.setattr(attnlab.judging.judge, "excused", lambda callee, status, contract: True)


@pytest.fixture(scope="module")
def grade_unconfined(course):
    """Like `grade`, in a child process whose sandbox is off: the controls."""
    from attnlab.running.grade import grade_paths
    from attnlab.running.processes import Zygote

    zygote = Zygote("off", warn=False)

    def run(path, tasks, seed=11):
        (result,) = grade_paths([path], course=course, seed=seed, task_ids=tasks, zygote=zygote)
        return result

    yield run
    zygote.close()


def test_patched_comparison_helpers_gain_nothing(grade, tmp_path):
    result = grade(build(HOSTILE / "patch_allclose.py", tmp_path))
    qk = task_of(result, "qk_scores")
    assert qk["score"] < qk["max_score"] and "missing_scale" in qk["diagnoses"]


def test_lying_tensor_subclass_gains_nothing(grade, tmp_path):
    result = grade(build(HOSTILE / "lying_subclass.py", tmp_path))
    qk = task_of(result, "qk_scores")
    assert qk["score"] == 0.0 or qk["status"] in ("failed", "forbidden"), qk


def test_exit_at_import_is_graded_as_nothing(grade, tmp_path):
    result = grade(build(HOSTILE / "exit_at_import.py", tmp_path))
    assert result["total"] == 0.0
    assert all(t["status"] == "missing" for t in result["tasks"])
    assert "SystemExit" in task_of(result, "qk_scores")["feedback"]


def test_os_exit_in_one_task_costs_only_that_task(grade, tmp_path):
    result = grade(build(HOSTILE / "os_exit_in_task.py", tmp_path))
    qk = task_of(result, "qk_scores")
    assert qk["score"] == 0.0 and "crashed" in qk["diagnoses"] or qk["status"] == "error", qk
    for tid in ("softmax_with_temperature", "causal_mask", "plot_attention"):
        t = task_of(result, tid)
        assert t["score"] == t["max_score"], t
    # attention calls qk_scores, so it could not be checked; the hint says whose fault that is.
    assert "blocked_by_callee" in task_of(result, "attention")["diagnoses"]
    # A crash costs only its case: the worker is restarted for the cases after it.
    assert sum(c["status"] == "crashed" for c in qk["cases"]) >= 2


@pytest.mark.slow
def test_endless_loop_ignoring_signals_costs_only_that_task(grade, tmp_path):
    start = time.monotonic()
    result = grade(build(HOSTILE / "endless_loop.py", tmp_path))
    elapsed = time.monotonic() - start
    sm = task_of(result, "softmax_with_temperature")
    assert sm["status"] == "timeout" and sm["score"] == 0.0
    for tid in ("qk_scores", "causal_mask", "plot_attention"):
        t = task_of(result, tid)
        assert t["score"] == t["max_score"], t
    # softmax, attention and multi_head_attention may each use up one task limit, no more.
    assert elapsed < 3 * TASK_SECONDS + 30


@pytest.mark.slow
def test_fake_result_lines_mean_nothing(tmp_path, course):
    path = build(HOSTILE / "fake_results.py", tmp_path)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "attnlab.cli",
            "grade",
            str(path),
            "--json",
            "--seed",
            "5",
            "--tasks",
            "qk_scores,causal_mask",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["total"] < result["max_total"]
    assert task_of(result, "qk_scores")["score"] < 15.0
    assert '"total": 100.0' in result["output"]  # what the student printed is kept, as data


@pytest.mark.slow
def test_no_worker_is_left_behind(grade, tmp_path, zygote):
    grade(build(HOSTILE / "endless_loop.py", tmp_path), tasks=["softmax_with_temperature"])
    # Every worker carries its zygote's work root in its command line, as the zygote does (other
    # sessions' graders on this machine carry their own). Only the session's zygote may still run.
    assert survivors(str(zygote.workroot), keep={zygote.proc.pid}) == []


def test_memory_bomb_costs_only_that_task(grade, tmp_path):
    result = grade(build(HOSTILE / "memory_bomb.py", tmp_path), tasks=["qk_scores", "causal_mask"])
    qk = task_of(result, "qk_scores")
    assert qk["score"] == 0.0 and qk["status"] in ("error", "failed"), qk
    assert "MemoryError" in qk["feedback"] or "crashed" in qk["diagnoses"], qk
    mask = task_of(result, "causal_mask")
    assert mask["score"] == mask["max_score"]


def test_output_flood_is_capped(grade, tmp_path, course):
    result = grade(build(HOSTILE / "output_flood.py", tmp_path), tasks=["qk_scores", "causal_mask"])
    assert all(t["score"] == t["max_score"] for t in result["tasks"]), result["tasks"]
    # The parent kept at most output_kb of each stream, and the JSON shows the start and says what it cut.
    from attnlab.running.grade import OUTPUT_CHARS

    assert len(result["output"]) < OUTPUT_CHARS + 100
    assert "x" * 200 in result["output"] and "more characters not shown" in result["output"]


def test_fork_bomb_is_capped_and_leaves_nothing(grade, tmp_path, mark, zygote):
    from attnlab.child.confine import NPROC

    needs(zygote, "rlimit_nproc")
    result = grade(hostile("fork_bomb.py", tmp_path, MARKER=mark), tasks=["qk_scores"])
    qk = task_of(result, "qk_scores")
    assert qk["score"] == qk["max_score"], qk  # grading went on, and the answer after the bomb counts
    started = int(re.search(r"fork bomb: (\d+) of 500", result["output"]).group(1))
    assert 0 < started < NPROC, result["output"]
    assert survivors(mark) == []


@pytest.mark.slow
def test_control_without_the_sandbox_the_fork_bomb_is_not_capped(grade_unconfined, tmp_path, mark):
    result = grade_unconfined(hostile("fork_bomb.py", tmp_path, MARKER=mark), tasks=["qk_scores"])
    assert "fork bomb: 500 of 500" in result["output"], result["output"]


@pytest.mark.slow
def test_orphan_daemon_dies_with_the_worker(grade, tmp_path, mark, zygote):
    needs(zygote, "pidns")
    result = grade(hostile("orphan_daemon.py", tmp_path, MARKER=mark), tasks=["qk_scores"])
    assert "its file exists: True" in result["output"], result["output"]  # it ran, and wrote inside the sandbox
    assert task_of(result, "qk_scores")["status"] == "passed"
    assert survivors(mark) == []
    time.sleep(1.5)  # a daemon alive anywhere would have written again by now
    assert traces(mark) == []


@pytest.mark.slow
def test_control_without_the_sandbox_the_daemon_survives(grade_unconfined, tmp_path, mark):
    grade_unconfined(hostile("orphan_daemon.py", tmp_path, MARKER=mark), tasks=["qk_scores"])
    time.sleep(1.5)
    assert marked_processes(mark) and Path(f"/tmp/attnlab-daemon-{mark}").exists()


def test_planted_result_files_stay_in_the_worker(grade, tmp_path, mark):
    result = grade(hostile("planted_results.py", tmp_path, MARKER=mark), tasks=["qk_scores", "causal_mask"])
    out = result["output"]
    assert f"attnlab-result-{mark}.json" in re.findall(r"planted: \S*/(\S+)", out), out  # it wrote, in its cwd
    assert re.search(r"refused: \S*/submission/", out) and f"refused: {sysconfig.get_paths()['purelib']}" in out
    assert result["total"] == result["max_total"], result["tasks"]
    assert traces(mark, tmp_path) == []


@pytest.mark.slow
def test_control_without_the_sandbox_result_files_land_on_the_host(grade_unconfined, tmp_path, mark):
    grade_unconfined(hostile("planted_results.py", tmp_path, MARKER=mark), tasks=["qk_scores"])
    assert Path(f"/tmp/attnlab-result-{mark}.json") in traces(mark)


def test_disk_scan_finds_no_answers(grade, tmp_path, zygote, scan_off):
    # The scan flags its reach into sys.modules (test_forbidden.py); switched off, the sandbox alone answers here.
    result = grade(hostile("disk_scan.py", tmp_path), tasks=["qk_scores"])
    out = result["output"]
    assert "found:" not in out, out
    if zygote.sandbox["mountns"][0]:  # Landlock alone hides contents; a private root hides names too
        assert "seen:" not in out, out
    scanned = int(re.search(r"scanned: (\d+) files", out).group(1))
    assert scanned > 1000, out  # it did look: the runtime and /usr are there to read
    assert task_of(result, "qk_scores")["status"] == "passed"


@pytest.mark.slow
def test_control_without_the_sandbox_the_disk_scan_finds_the_reference(grade_unconfined, tmp_path):
    result = grade_unconfined(hostile("disk_scan.py", tmp_path), tasks=["qk_scores"])
    assert f"found: {REPO / 'reference'}" in result["output"], result["output"]


def test_no_connection_reaches_a_listener_on_localhost(grade, tmp_path, listener):
    port = listener.getsockname()[1]
    result = grade(hostile("tcp_connect.py", tmp_path, PORT=port), tasks=["qk_scores"])
    assert "tcp: refused" in result["output"] and "udp: refused" in result["output"], result["output"]
    assert connections(listener) == 0
    assert task_of(result, "qk_scores")["status"] == "passed"


@pytest.mark.slow
def test_control_without_the_sandbox_the_listener_is_reached(grade_unconfined, tmp_path, listener):
    port = listener.getsockname()[1]
    result = grade_unconfined(hostile("tcp_connect.py", tmp_path, PORT=port), tasks=["qk_scores"])
    assert "tcp: connected" in result["output"]
    assert connections(listener) == 1


def test_torch_c_bindings_do_not_evade_the_detectors(grade, tmp_path, course, scan_off):
    # The scan sees through these spellings now (test_forbidden.py); switched off, torch's dispatcher must catch it.
    path = hostile("torch_c_evasion.py", tmp_path)
    tasks = ["softmax_with_temperature", "attention"]
    result = grade(path, tasks=tasks)
    for tid in tasks:
        t = task_of(result, tid)
        assert t["status"] == "forbidden" and "forbidden_call" in t["diagnoses"], t
        assert t["score"] == 0.0


def test_editing_its_own_file_changes_nothing(grade, tmp_path):
    path = hostile("edit_own_file.py", tmp_path)
    before = path.read_bytes()
    result = grade(path, tasks=["qk_scores", "causal_mask"])
    out = result["output"]
    assert re.search(r"could not edit: \S*/submission/edit_own_file.py", out) and "edited:" not in out, out
    assert path.read_bytes() == before
    # Each reload after a crash loads what was submitted, from the grader's memory: still the wrong mask.
    mask = task_of(result, "causal_mask")
    assert mask["score"] < mask["max_score"] and "mask_inverted" in mask["diagnoses"], mask


@pytest.mark.slow
def test_control_without_the_sandbox_the_file_is_edited(grade_unconfined, tmp_path):
    if not tmp_path.is_relative_to("/tmp"):
        pytest.skip(f"the attack searches /tmp, and pytest's tmp_path is {tmp_path}")
    path = hostile("edit_own_file.py", tmp_path)
    before = path.read_bytes()
    grade_unconfined(path, tasks=["qk_scores"])
    assert path.read_bytes() != before


def _zero_for_forbidden(result: dict, task_id: str) -> dict:
    t = task_of(result, task_id)
    assert t["score"] == 0.0 and t["status"] == "forbidden", t
    assert {"forbidden_call", "detector_tampered"} & set(t["diagnoses"]), t
    return t


def test_replaced_detectors_gain_nothing(grade, tmp_path, course):
    from attnlab.judging.scan import scan_source

    path = hostile("detectors_replaced.py", tmp_path)
    result = grade(path, tasks=["multi_head_attention"])
    assert "forbidden_call" in _zero_for_forbidden(result, "multi_head_attention")["diagnoses"]
    # The scan saw the reach at load, which is charged to every task, and the name built from pieces.
    found = scan_source([path.read_text()], course.forbidden_for("multi_head_attention"))
    assert {"evasion:sys.modules", "evasion:__main__", "evasion:import gc"} <= {f.name for f in found[""]}, found
    assert any(f.name == "multi_head_attention_forward" or f.name == "MultiheadAttention" for f in found[""])


def test_replaced_detectors_gain_nothing_past_the_scan(grade, tmp_path, scan_off):
    result = grade(hostile("detectors_replaced.py", tmp_path), tasks=["multi_head_attention"])
    # It did find the runner's class and swap it; the worker had bound its detectors before the file loaded.
    assert int(re.search(r"detectors swapped: (\d+)", result["output"]).group(1)) >= 1, result["output"]
    _zero_for_forbidden(result, "multi_head_attention")


def test_a_helper_that_no_task_grades_answers_for_nothing(grade, tmp_path):
    result = grade(hostile("callee_excuse.py", tmp_path), tasks=["multi_head_attention"])
    assert "forbidden_call" in _zero_for_forbidden(result, "multi_head_attention")["diagnoses"]


def test_a_helper_that_no_task_grades_answers_for_nothing_past_the_scan(grade, tmp_path, scan_off):
    result = grade(hostile("callee_excuse.py", tmp_path), tasks=["multi_head_attention"])
    assert "forbidden_call" in _zero_for_forbidden(result, "multi_head_attention")["diagnoses"]


def test_control_with_the_old_callee_rule_the_helper_excuses_the_call(grade, tmp_path, scan_off, old_excuse):
    result = grade(hostile("callee_excuse.py", tmp_path), tasks=["multi_head_attention"])
    t = task_of(result, "multi_head_attention")
    assert t["score"] == t["max_score"], t


def test_an_ungraded_callee_answers_for_nothing(grade, tmp_path):
    result = grade(hostile("callee_excuse_softmax.py", tmp_path), tasks=["causal_mask", "attention", "plot_attention"])
    assert "forbidden_call" in _zero_for_forbidden(result, "attention")["diagnoses"]
    for tid in ("causal_mask", "plot_attention"):
        t = task_of(result, tid)
        assert t["score"] == t["max_score"], t


def test_an_ungraded_callee_answers_for_nothing_past_the_scan(grade, tmp_path, scan_off):
    result = grade(hostile("callee_excuse_softmax.py", tmp_path), tasks=["causal_mask", "attention", "plot_attention"])
    assert "forbidden_call" in _zero_for_forbidden(result, "attention")["diagnoses"]


def test_control_with_the_old_callee_rule_the_ungraded_callee_excuses_the_call(grade, tmp_path, scan_off, old_excuse):
    result = grade(hostile("callee_excuse_softmax.py", tmp_path), tasks=["causal_mask", "attention", "plot_attention"])
    t = task_of(result, "attention")
    assert t["score"] == t["max_score"], t


def test_a_graded_callee_still_answers_for_its_own_call(grade, tmp_path):
    """The same softmax, graded in the same run (scored 0 there): attention, which only calls it, keeps its points."""
    result = grade(hostile("callee_excuse_softmax.py", tmp_path), tasks=["softmax_with_temperature", "attention"])
    _zero_for_forbidden(result, "softmax_with_temperature")
    t = task_of(result, "attention")
    assert t["score"] == t["max_score"], t
