"""judge: every case status and every task status, from made-up replies (no worker, no child process)."""

from __future__ import annotations

import pytest
from attnlab.child.replies import Status
from attnlab.judging.cases import make_cases
from attnlab.judging.judge import STUDENT_NAME, STUDENT_TEXT, TaskStatus, judge_case

from .fakes import COURSE, SEED, cases, changed, checks_right, computed, judge_run, raised, right, said

POINTS = {t: COURSE.task(t).points for t in ("qk_scores", "softmax_with_temperature", "causal_mask", "attention")}


def _right(case):
    return checks_right(case, right)


def _doubled(case):
    return computed(case, 2 * case.expected[0])


def _statuses(result) -> dict[str, str]:
    return {c["id"]: c["status"] for c in result.to_json()["cases"]}


def _with_cuda(task_id: str):
    return make_cases(task_id, SEED, COURSE.dtypes, ["cpu", "cuda"])


# --------------------------------------------------------------------------------------------- pending


def test_a_cuda_case_on_a_machine_without_a_gpu_is_listed_as_pending_and_the_task_still_passes():
    the_cases = _with_cuda("qk_scores")
    (cuda,) = [c for c in the_cases if c.device == "cuda"]
    result = judge_run("qk_scores", lambda c: said(Status.PENDING) if c.device == "cuda" else _right(c), the_cases)
    assert result.status == TaskStatus.PASSED and result.score == POINTS["qk_scores"]
    assert _statuses(result)[cuda.id] == "pending"
    assert result.to_json()["pending"] == 1
    assert result.feedback == "all cases pass."


def test_a_pending_case_counts_in_neither_share_of_a_partial_score():
    the_cases = _with_cuda("qk_scores")
    wrong = {"v0", "v1"}
    result = judge_run(
        "qk_scores",
        lambda c: said("pending") if c.device == "cuda" else (_doubled(c) if c.id in wrong else _right(c)),
        the_cases,
    )
    counted = len(the_cases) - 1
    assert result.status == TaskStatus.PARTIAL
    assert result.score == pytest.approx(POINTS["qk_scores"] * (counted - len(wrong)) / counted)


# ------------------------------------------------------------------------------ timeout and not_run


def test_a_timeout_stops_the_task_and_the_cases_after_it_are_not_run():
    the_cases = cases("qk_scores")
    stuck = the_cases[2]
    order = [c.id for c in the_cases]

    def answer(c):
        at = order.index(c.id)
        if at < 2:
            return _right(c)
        return said("timeout") if c.id == stuck.id else said("not_run")  # as the parent marks them

    failure = {"status": "timeout", "case": stuck.label, "seconds": 10}
    result = judge_run("qk_scores", answer, failure=failure)
    statuses = _statuses(result)
    assert [statuses[i] for i in order[:2]] == ["passed", "passed"]
    assert statuses[stuck.id] == "timeout"
    assert {statuses[i] for i in order[3:]} == {"not_run"}
    assert result.status == TaskStatus.TIMEOUT
    assert [d.id for d in result.diagnoses] == ["timeout"]
    assert f"did not finish on {stuck.label} within 10 s" in result.feedback
    assert result.score == pytest.approx(POINTS["qk_scores"] * 2 / len(the_cases))


def test_cases_with_no_reply_and_no_failure_are_not_run_and_count_against_the_score():
    the_cases = cases("qk_scores")
    result = judge_run("qk_scores", lambda c: _right(c) if c.id == "v0" else None)
    assert {s for i, s in _statuses(result).items() if i != "v0"} == {"not_run"}
    assert result.status == TaskStatus.PARTIAL
    assert result.score == pytest.approx(POINTS["qk_scores"] / len(the_cases))


# ------------------------------------------------------------------------------------------- crashed


def test_a_crash_on_every_case_is_an_error_with_the_crashed_diagnosis():
    result = judge_run("qk_scores", lambda c: said("crashed"))
    assert set(_statuses(result).values()) == {"crashed"}
    assert result.status == TaskStatus.ERROR and result.score == 0.0
    assert "crashed" in [d.id for d in result.diagnoses]
    first = cases("qk_scores")[0]
    assert f"ended the Python process on {first.label}" in result.feedback


def test_a_crash_on_one_case_leaves_the_others_their_points():
    result = judge_run("qk_scores", lambda c: said("crashed") if c.id == "v3" else _right(c))
    assert _statuses(result)["v3"] == "crashed"
    assert result.status == TaskStatus.PARTIAL
    assert [d.id for d in result.diagnoses] == ["crashed"]


# ------------------------------------------------------------------------------------------- missing


LOAD = " (loading stopped at cell 3: NameError: name 'np' is not defined)"  # as grade.py words it


def test_no_such_function_is_missing_with_what_the_load_said():
    result = judge_run("qk_scores", lambda c: None, failure={"status": "missing", "load": LOAD})
    assert result.status == TaskStatus.MISSING and result.score == 0.0
    assert [d.id for d in result.diagnoses] == ["missing"]
    assert result.feedback.startswith("No qk_scores was found in your submission")
    assert "(loading stopped at cell 3: NameError: name 'np' is not defined)." in result.feedback
    assert set(_statuses(result).values()) == {"missing"}


def test_the_missing_message_keeps_a_space_before_what_the_load_said():
    result = judge_run("qk_scores", lambda c: None, failure={"status": "missing", "load": LOAD})
    assert result.feedback == f"No qk_scores was found in your submission{LOAD}."


def test_a_stub_raising_not_implemented_error_is_missing_on_every_case():
    stub = raised("NotImplementedError", "", frames=("qk_scores",))

    def answer(c):
        if c.kind == "meta_device":
            return {"status": "ok", "meta_run": {"error": {"type": "NotImplementedError", "msg": ""}}}, {}
        return stub

    result = judge_run("qk_scores", answer)
    assert result.status == TaskStatus.MISSING and result.score == 0.0
    assert [d.id for d in result.diagnoses] == ["not_implemented"]
    assert "qk_scores still raises NotImplementedError" in result.feedback
    assert set(_statuses(result).values()) == {"missing"}


def test_not_implemented_error_from_a_callee_is_not_the_caller_missing():
    inner = raised("NotImplementedError", "", frames=("attention", "qk_scores"))
    result = judge_run("attention", lambda c: checks_right(c, lambda c: inner))
    assert result.status == TaskStatus.ERROR
    assert "not_implemented" not in [d.id for d in result.diagnoses]
    assert "exception" in [d.id for d in result.diagnoses]


# --------------------------------------------------------------------------------------------- error


def test_an_exception_is_an_error_with_its_text_in_the_message():
    tb = '  File "alice.py", line 3, in qk_scores\n    return q @ k.transpose(-1, -3)\n'
    error = raised("IndexError", "Dimension out of range (expected to be in range of [-2, 1], but got -3)", tb)
    result = judge_run("qk_scores", lambda c: checks_right(c, lambda c: error))
    assert result.status == TaskStatus.ERROR and result.score == 0.0
    assert "error" in set(_statuses(result).values())
    assert result.diagnoses[0].id == "exception"
    text = result.feedback
    assert (
        "your code raised IndexError: Dimension out of range (expected to be in range of [-2, 1], but got -3)" in text
    )
    assert 'at File "alice.py", line 3, in qk_scores: `return q @ k.transpose(-1, -3)`' in text


def test_an_exception_on_some_cases_leaves_the_task_partial():
    error = raised("ValueError", "boom")
    result = judge_run("qk_scores", lambda c: error if c.id == "v2" else _right(c))
    assert _statuses(result)["v2"] == "error"
    assert result.status == TaskStatus.PARTIAL


def test_the_exception_text_in_a_message_is_capped():
    (case,) = [c for c in cases("qk_scores") if c.id == "v0"]
    tb = "  File 'a.py', line 1, in qk_scores\n    " + "y" * 300 + "\n"
    meta, _ = raised("E" * 500, "x" * 5000, tb=tb)
    result = judge_case(case, meta, {}, COURSE)
    assert result.status == "error"
    (problem,) = result.problems
    assert problem.id == "exception"
    assert "E" * STUDENT_NAME not in problem.message and "E" * (STUDENT_NAME - 1) + "…" in problem.message
    assert "x" * STUDENT_TEXT not in problem.message and "x" * (STUDENT_TEXT - 1) + "…" in problem.message
    where = STUDENT_TEXT // 2
    assert "y" * where not in problem.message and "y" * (where - 1) + "…`" in problem.message
    assert len(problem.message) < len(case.label) + STUDENT_NAME + STUDENT_TEXT + 2 * where + 60


def test_the_exception_text_in_a_message_is_one_line_of_printable_characters():
    (case,) = [c for c in cases("qk_scores") if c.id == "v0"]
    meta, _ = raised("ValueError", "bad\x00value\x1b[31m here\nand a second line\r\tend")
    (problem,) = judge_case(case, meta, {}, COURSE).problems
    assert "ValueError: bad value [31m here and a second line end" in problem.message
    assert problem.message.isprintable()


# ------------------------------------------------------------------------------------------- skipped


def test_a_meta_device_case_that_cannot_run_on_meta_is_skipped_and_counted_in_neither_share():
    cannot = {
        "status": "ok",
        "meta_run": {"error": {"type": "RuntimeError", "msg": "Tensor.item() cannot be called on meta tensors"}},
    }
    result = judge_run("qk_scores", lambda c: (cannot, {}) if c.kind == "meta_device" else right(c))
    (meta,) = [r for r in result.cases if r.case.kind == "meta_device"]
    assert meta.status == "skipped" and meta.skipped
    assert "not checkable on the meta device: Tensor.item() cannot be called on meta tensors" in meta.detail
    assert result.status == TaskStatus.PASSED and result.score == POINTS["qk_scores"]
    half = judge_run(
        "qk_scores", lambda c: (cannot, {}) if c.kind == "meta_device" else (_doubled(c) if c.id == "v0" else right(c))
    )
    counted = len(cases("qk_scores")) - 1
    assert half.score == pytest.approx(POINTS["qk_scores"] * (counted - 1) / counted)


def test_a_meta_device_error_about_devices_is_wrong_device_not_skipped():
    mixing = {
        "status": "ok",
        "meta_run": {"error": {"type": "RuntimeError", "msg": "Expected all tensors to be on the same device"}},
    }
    result = judge_run("qk_scores", lambda c: (mixing, {}) if c.kind == "meta_device" else right(c))
    (meta,) = [r for r in result.cases if r.case.kind == "meta_device"]
    assert meta.status == "failed" and not meta.skipped
    assert [p.id for p in meta.problems] == ["wrong_device"]
    assert result.status == TaskStatus.PARTIAL


# ----------------------------------------------------------------------------------- passed and failed


def test_right_values_on_every_case_pass_with_full_points():
    result = judge_run("qk_scores", _right)
    assert set(_statuses(result).values()) == {"passed"}
    assert result.status == TaskStatus.PASSED and result.score == POINTS["qk_scores"]
    assert result.diagnoses == []


def test_wrong_values_fail_each_case_and_the_task():
    result = judge_run("softmax_with_temperature", lambda c: checks_right(c, lambda c: computed(c, c.expected[0] + 1)))
    statuses = _statuses(result)
    values = {r.case.id for r in result.cases if r.case.kind == "call"}
    assert {statuses[i] for i in values} == {"failed"}
    assert result.status == TaskStatus.FAILED and result.score == 0.0


def test_some_right_cases_make_the_task_partial():
    result = judge_run("qk_scores", lambda c: _doubled(c) if c.id in ("v0", "v1", "v2") else _right(c))
    n = len(cases("qk_scores"))
    assert result.status == TaskStatus.PARTIAL
    assert result.score == pytest.approx(POINTS["qk_scores"] * (n - 3) / n)


# ----------------------------------------------------------------------------------------- forbidden


@pytest.mark.parametrize("seen", [{"forbidden": ["softmax"]}, {"evasion": True}], ids=["a call", "an evasion"])
def test_a_forbidden_call_seen_at_run_time_scores_0_even_with_right_values(seen):
    result = judge_run("softmax_with_temperature", lambda c: checks_right(c, changed(right, **seen)))
    assert result.status == TaskStatus.FORBIDDEN and result.score == 0.0
    assert result.diagnoses[0].id == "forbidden_call"
    assert ("You used softmax" if "forbidden" in seen else "a switch that hides torch calls") in result.feedback


def test_every_task_status_is_produced_by_some_test_here():
    produced = {
        TaskStatus.PASSED: judge_run("qk_scores", _right).status,
        TaskStatus.PARTIAL: judge_run("qk_scores", lambda c: _doubled(c) if c.id == "v0" else _right(c)).status,
        TaskStatus.FAILED: judge_run("qk_scores", lambda c: checks_right(c, _doubled)).status,
        TaskStatus.ERROR: judge_run("qk_scores", lambda c: said("crashed")).status,
        TaskStatus.TIMEOUT: judge_run(
            "qk_scores", lambda c: said("timeout"), failure={"status": "timeout", "seconds": 1}
        ).status,
        TaskStatus.MISSING: judge_run("qk_scores", lambda c: None, failure={"status": "missing"}).status,
        TaskStatus.FORBIDDEN: judge_run("qk_scores", lambda c: checks_right(c, changed(right, evasion=True))).status,
    }
    assert set(produced) == set(TaskStatus)
    assert all(got == want for want, got in produced.items()), produced


def test_every_case_status_is_produced_by_some_test_here():
    c = {x.id: x for x in cases("qk_scores")}
    (cuda,) = [x for x in _with_cuda("qk_scores") if x.device == "cuda"]
    cannot = {"status": "ok", "meta_run": {"error": {"type": "RuntimeError", "msg": "item() on meta"}}}
    produced = {
        Status.PENDING: judge_case(cuda, {"status": "pending"}, {}, COURSE).status,
        Status.TIMEOUT: judge_case(c["v0"], {"status": "timeout"}, {}, COURSE).status,
        Status.CRASHED: judge_case(c["v0"], {"status": "crashed"}, {}, COURSE).status,
        Status.MISSING: judge_case(c["v0"], raised("NotImplementedError", "")[0], {}, COURSE).status,
        Status.NOT_RUN: judge_case(c["v0"], {"status": "not_run"}, {}, COURSE).status,
        Status.ERROR: judge_case(c["v0"], raised("TypeError", "no")[0], {}, COURSE).status,
        Status.SKIPPED: judge_case(c["meta"], cannot, {}, COURSE).status,
        Status.PASSED: judge_case(c["v0"], *right(c["v0"]), COURSE).status,
        Status.FAILED: judge_case(c["v0"], *_doubled(c["v0"]), COURSE).status,
    }
    judged = set(Status) - {Status.OK, Status.NO_GRAPH}  # what a worker says, never a case's verdict
    assert set(produced) == judged
    assert all(got == want for want, got in produced.items()), produced
