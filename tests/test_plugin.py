"""The pytest plugin, tested with pytester as a self-learner would run it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from attnlab.course import load_course
from conftest import REPO, SUBMISSIONS

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow  # each test is a pytest run in a process of its own, through real workers
EXAMPLES = REPO / "assignments" / "examples"
TASKS = len(load_course(REPO / "course.yml").tasks)  # one test item per task


def own_copy(pytester: pytest.Pytester, path: Path) -> str:
    """The submission in the pytester folder, where a self-learner keeps their work. Given from inside this
    checkout, it would make pytest read the checkout's pytest configuration (its addopts included)."""
    copy = pytester.path / path.name
    copy.write_text(path.read_text())
    return str(copy)


def test_one_test_per_task_and_hints_on_failure(pytester: pytest.Pytester):
    res = pytester.runpytest_subprocess("--attn-submission", own_copy(pytester, EXAMPLES / "forgot_sqrt_d.py"))
    res.assert_outcomes(passed=TASKS - 1, failed=1)
    out = res.stdout.str()
    assert re.search(r"qk_scores: [\d.]+/15, (partial|failed)", out), out
    assert "did you forget to divide by sqrt(d)?" in out
    assert "attnlab 0.1.0: grading" in out


def test_marker_selects_one_task(pytester: pytest.Pytester):
    res = pytester.runpytest_subprocess(
        "--attn-submission", own_copy(pytester, SUBMISSIONS / "base.py"), "-m", "causal_mask"
    )
    res.assert_outcomes(passed=1, deselected=TASKS - 1)


def test_ini_value_is_used_when_no_option(pytester: pytest.Pytester):
    pytester.makeini(f"[pytest]\nattn_submission = {SUBMISSIONS / 'base.py'}\n")
    res = pytester.runpytest_subprocess("-m", "qk_scores or attention")
    res.assert_outcomes(passed=2, deselected=TASKS - 2)


def test_only_the_tasks_run_in_a_folder_with_tests_of_its_own_and_in_one_process(pytester: pytest.Pytester):
    """A self-learner runs `pytest --attn-submission mywork.py` in their clone, beside the course's own suite."""
    pytester.makepyfile(test_course_suite="def test_of_the_course():\n    raise AssertionError('not theirs')\n")
    res = pytester.runpytest_subprocess("--attn-submission", own_copy(pytester, SUBMISSIONS / "base.py"), "-n", "2")
    res.assert_outcomes(passed=TASKS, deselected=1)
    assert "workers" not in res.stdout.str()  # pytest-xdist stayed off: one grader, one grading


def test_starter_stubs_fail_with_not_implemented(pytester: pytest.Pytester, tmp_path):
    stub = tmp_path / "stub.py"
    stub.write_text(
        "def qk_scores(q, k):\n    raise NotImplementedError\n\n"
        "def causal_mask(seq_len, device=None):\n    raise NotImplementedError\n"
    )
    res = pytester.runpytest_subprocess("--attn-submission", str(stub), "-m", "qk_scores or causal_mask")
    res.assert_outcomes(failed=2, deselected=TASKS - 2)
    out = res.stdout.str()
    assert "qk_scores still raises NotImplementedError: this is where you start" in out
    # Its ValueError cases too: a stub not yet written is not "accepts invalid input".
    assert "causal_mask still raises NotImplementedError: this is where you start" in out


def test_a_slip_no_rule_was_written_for_is_named_in_the_failure(pytester: pytest.Pytester):
    """The describer's words reach a self-learner's pytest run as they reach check() and attnlab grade."""
    work = pytester.path / "mywork.py"
    work.write_text(
        (SUBMISSIONS / "base.py").read_text()
        + "\n\n"
        + (SUBMISSIONS / "unforeseen" / "pe_concat_halves.py").read_text()
    )
    res = pytester.runpytest_subprocess("--attn-submission", str(work), "-m", "positional_encoding")
    res.assert_outcomes(failed=1, deselected=TASKS - 1)
    assert "the expected order interleaves them" in res.stdout.str()
