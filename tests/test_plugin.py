"""The pytest plugin, tested with pytester as a self-learner would run it."""

from __future__ import annotations

import re

import pytest
from conftest import REPO, SUBMISSIONS

pytest_plugins = ["pytester"]
EXAMPLES = REPO / "assignments" / "examples"


def test_one_test_per_task_and_hints_on_failure(pytester: pytest.Pytester):
    res = pytester.runpytest_subprocess("--attn-submission", str(EXAMPLES / "forgot_sqrt_d.py"))
    res.assert_outcomes(passed=5, failed=1)
    out = res.stdout.str()
    assert re.search(r"qk_scores: [\d.]+/15, (partial|failed)", out), out
    assert "did you forget to divide by sqrt(d)?" in out
    assert "attnlab 0.1.0: grading" in out


def test_marker_selects_one_task(pytester: pytest.Pytester):
    res = pytester.runpytest_subprocess("--attn-submission", str(SUBMISSIONS / "base.py"), "-m", "causal_mask")
    res.assert_outcomes(passed=1, deselected=5)


def test_ini_value_is_used_when_no_option(pytester: pytest.Pytester):
    pytester.makeini(f"[pytest]\nattn_submission = {SUBMISSIONS / 'base.py'}\n")
    res = pytester.runpytest_subprocess("-m", "qk_scores or attention")
    res.assert_outcomes(passed=2, deselected=4)


def test_starter_stubs_fail_with_not_implemented(pytester: pytest.Pytester, tmp_path):
    stub = tmp_path / "stub.py"
    stub.write_text(
        "def qk_scores(q, k):\n    raise NotImplementedError\n\n"
        "def causal_mask(seq_len, device=None):\n    raise NotImplementedError\n"
    )
    res = pytester.runpytest_subprocess("--attn-submission", str(stub), "-m", "qk_scores or causal_mask")
    res.assert_outcomes(failed=2, deselected=4)
    out = res.stdout.str()
    assert "qk_scores still raises NotImplementedError: this is where you start" in out
    # Its ValueError cases too: a stub not yet written is not "accepts invalid input".
    assert "causal_mask still raises NotImplementedError: this is where you start" in out
