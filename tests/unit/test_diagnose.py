"""diagnose: an exception that a transposition produces is named wrong_transpose (made-up replies)."""

from __future__ import annotations

import warnings

import pytest
from attnlab.judging.rules.qk_scores import qk_error

from .fakes import cases, judge, on_meta, raised, right


def _batched():
    return next(c for c in cases("qk_scores") if c.kind == "call" and c.tensors["k"].dim() == 3)


def _error_of(slip, case) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            slip(case.tensors["q"], case.tensors["k"])
        except RuntimeError as e:
            return str(e).splitlines()[0]
    raise AssertionError("the slip did not raise")


def _student(slip, tb=""):
    """qk_scores that is right on matrices and raises what `slip` raises on batched inputs."""

    def answer(c):
        if c.kind == "meta_device" or c.tensors["k"].dim() == 2:
            return right(c) if c.kind == "call" else on_meta(c)
        return raised("RuntimeError", _error_of(slip, c), tb)

    return answer


def test_k_T_on_batched_inputs_is_wrong_transpose_not_a_bare_exception():
    tb = '  File "alice.py", line 7, in qk_scores\n    return q @ k.T / math.sqrt(d)\n'
    result = judge("qk_scores", _student(lambda q, k: q @ k.T, tb))
    assert [d.id for d in result.diagnoses] == ["wrong_transpose"]
    assert result.status == "partial"
    text = result.feedback
    assert "`return q @ k.T / math.sqrt(d)` raised RuntimeError (The size of tensor a" in text
    assert "k.T reverses every dimension of k" in text and "use q @ k.transpose(-2, -1)" in text


def test_k_t_on_batched_inputs_is_wrong_transpose_without_a_source_line():
    result = judge("qk_scores", _student(lambda q, k: q @ k.t()))
    assert [d.id for d in result.diagnoses] == ["wrong_transpose"]
    assert "your code raised RuntimeError (t() expects a tensor with <= 2 dimensions" in result.feedback
    assert "k.t() accepts at most 2 dimensions" in result.feedback


@pytest.mark.parametrize(
    "kind, msg",
    [
        ("RuntimeError", "The size of tensor a (7) must match the size of tensor b (5) at non-singleton dimension 2"),
        ("AttributeError", "'Tensor' object has no attribute 'tranpose'"),
    ],
)
def test_other_errors_stay_exceptions(kind, msg):
    case = _batched()
    assert qk_error(case, {"type": kind, "msg": msg, "tb": "", "frames": ["qk_scores"]}) is None
    result = judge("qk_scores", lambda c: raised(kind, msg) if c.kind == "call" else on_meta(c))
    assert "exception" in [d.id for d in result.diagnoses]
    assert "wrong_transpose" not in [d.id for d in result.diagnoses]


def test_no_wrong_transpose_for_an_error_on_matrices():
    case = next(c for c in cases("qk_scores") if c.kind == "call" and c.tensors["k"].dim() == 2)
    err = {"type": "RuntimeError", "msg": "t() expects a tensor with <= 2 dimensions, but self is 3D", "tb": ""}
    assert qk_error(case, err) is None
