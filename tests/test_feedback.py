"""`check(fn)` in the student's own process: instant pass/fail and a hint, never a grade."""

from __future__ import annotations

import math
import time

import torch

from attnlab import check
from attnlab.config import load_course


def test_check_passes_the_reference(capsys):
    from attnlab import reference

    assert check(reference.qk_scores) is True
    assert check(reference.MultiHeadAttention) is True
    assert "PASS qk_scores" in capsys.readouterr().out


def test_check_names_the_mistake(capsys):
    def qk_scores(q, k):
        return q @ k.transpose(-2, -1)

    assert check(qk_scores) is False
    out = capsys.readouterr().out
    assert "FAIL qk_scores" in out and "divide by sqrt(d)" in out


def test_check_rejects_an_unknown_function():
    import pytest

    def my_helper(x):
        return x

    with pytest.raises(ValueError, match="check\\(\\) needs one of the course's functions"):
        check(my_helper)


def test_check_sees_a_forbidden_call(capsys):
    def softmax_with_temperature(scores, temperature=1.0, dim=-1):
        if not (0 < temperature < math.inf):
            raise ValueError("temperature")
        return torch.softmax(scores / temperature, dim=dim).nan_to_num(0.0)

    assert check(softmax_with_temperature) is False
    assert "forbid" in capsys.readouterr().out


def test_check_stops_an_endless_loop_at_the_time_limit(capsys):
    def qk_scores(q, k):
        while True:
            pass

    course = load_course()
    short = course.model_copy(update={"limits": course.limits.model_copy(update={"task_seconds": 0.5})})
    t0 = time.perf_counter()
    assert check(qk_scores, course=short) is False
    assert time.perf_counter() - t0 < 5, "check() must stop at the first case that runs out of time"
    out = capsys.readouterr().out
    assert "FAIL qk_scores" in out and "did not finish" in out and "_TimeUp" not in out


def test_check_runs_on_any_seed_in_the_full_install(capsys):
    from attnlab import reference

    assert check(reference.softmax_with_temperature, seed=7) is True
