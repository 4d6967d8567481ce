"""judge: the tolerance's edges, per dtype as course.yml sets them (made-up replies).

A value passes when |got - expected| <= atol + rtol * |expected|, evaluated in float64, with the atol and rtol
of the case's dtype. To sit exactly on that edge, the expected values here are moved (by a few parts in a
million at most) to where got - expected can equal atol + rtol * |expected| exactly in float64, and the
student's values are sent as float64 tensors labelled with the case's dtype: the judge compares in float64
whatever the dtype is.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import pytest
import torch
from attnlab.course import load_course
from attnlab.judging.case import Case
from attnlab.judging.judge import judge_case

from .fakes import COURSE, cases, judge, returns

TOLERANCES = load_course().tolerances
DTYPES = list(load_course().dtypes)


def _case_of(dtype: str) -> Case:
    """A qk_scores value case in `dtype` (every dtype of the course has one)."""
    return next(c for c in cases("qk_scores") if c.kind == "call" and c.dtype == dtype and c.probe == "")


def _on_edge(x: float, atol: float, rtol: float) -> tuple[float, float]:
    """(expected, got) near x: float64 numbers with got - expected == atol + rtol * |expected| exactly, got
    farther from 0 than expected."""
    mag = abs(x) or 1.0
    bound = atol + rtol * mag
    quantum = math.ulp(mag + 2 * bound)  # the spacing of float64s around expected and got
    first = math.ceil(bound / quantum)
    for n in range(first, first + 64):
        d = n * quantum  # the distance: a float64 that expected + d can hold exactly
        centre = round((d - atol) / rtol / quantum)
        for k in sorted(range(-64, 65), key=abs):  # an expected value whose bound, as float64 computes it, is d
            e = (centre + k) * quantum
            g = e + d
            if atol + rtol * e == d and Fraction(g) - Fraction(e) == Fraction(d):
                return math.copysign(e, x), math.copysign(g, x)
    raise AssertionError(f"no float64 edge near {x}")


def _edge_case(dtype: str) -> tuple[Case, torch.Tensor]:
    """A real case of `dtype` with its expected values moved onto edges, and the student values on them."""
    case, tol = _case_of(dtype), TOLERANCES[dtype]
    pairs = [_on_edge(x, tol.atol, tol.rtol) for x in case.expected[0].flatten().tolist()]
    shape = case.expected[0].shape
    e = torch.tensor([p[0] for p in pairs], dtype=torch.float64).reshape(shape)
    g = torch.tensor([p[1] for p in pairs], dtype=torch.float64).reshape(shape)
    assert torch.allclose(e, case.expected[0], rtol=1e-5, atol=0)  # still the case's values, near enough
    return dataclasses.replace(case, expected=[e]), g


def _labelled(case: Case, values: torch.Tensor) -> tuple[dict, dict]:
    """A reply whose output is `values` (float64), described as a tensor of the case's dtype."""
    meta, tensors = returns(values)
    meta["outputs"][0]["dtype"] = case.dtype
    return meta, tensors


def _beyond(case: Case, g: torch.Tensor, i: int) -> torch.Tensor:
    """`g` with element i one float64 farther from the expected value."""
    e = case.expected[0].reshape(-1)
    out = g.clone().reshape(-1)
    away = torch.tensor(math.copysign(math.inf, float(out[i] - e[i])), dtype=torch.float64)
    out[i] = torch.nextafter(out[i], away)
    return out.reshape(g.shape)


def test_every_dtype_of_the_course_has_a_tolerance_and_a_case():
    assert set(DTYPES) == set(COURSE.tolerances) == set(TOLERANCES) == {"float64", "float32", "float16", "bfloat16"}
    assert {_case_of(dt).dtype for dt in DTYPES} == set(DTYPES)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_value_exactly_at_atol_plus_rtol_times_expected_passes(dtype):
    case, at = _edge_case(dtype)
    tol, e = TOLERANCES[dtype], case.expected[0]
    assert torch.equal((at - e).abs(), tol.atol + tol.rtol * e.abs())  # exactly on the edge, every value
    result = judge_case(case, *_labelled(case, at), COURSE)
    assert result.passed, result.detail


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_edge_on_the_side_of_zero_passes_too(dtype):
    case, at = _edge_case(dtype)
    tol, e = TOLERANCES[dtype], case.expected[0]
    below = 2 * e - at
    assert torch.equal((below - e).abs(), tol.atol + tol.rtol * e.abs())
    assert judge_case(case, *_labelled(case, below), COURSE).passed


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_value_one_float64_beyond_the_edge_fails(dtype):
    case, at = _edge_case(dtype)
    tol, e = TOLERANCES[dtype], case.expected[0]
    i = int(e.abs().argmax())  # where the rtol part is largest
    beyond = _beyond(case, at, i)
    assert ((beyond - e).abs() > tol.atol + tol.rtol * e.abs()).sum() == 1
    result = judge_case(case, *_labelled(case, beyond), COURSE)
    assert not result.passed
    assert result.detail.startswith(f"scores: 1 of {e.numel()} values are off")
    assert [p.id for p in result.problems] == []  # off by a hair: no slip to name, only the detail


def test_each_dtype_is_held_to_its_own_tolerance_not_another_s():
    wide = TOLERANCES["bfloat16"]
    for dtype in ("float64", "float32", "float16"):
        case = _case_of(dtype)
        e = case.expected[0].to(torch.float64)
        off = e + 0.5 * (wide.atol + wide.rtol * e.abs())  # inside bfloat16's tolerance, outside the dtype's own
        assert not judge_case(case, *_labelled(case, off), COURSE).passed, dtype
    case = _case_of("bfloat16")
    e = case.expected[0].to(torch.float64)
    assert judge_case(case, *_labelled(case, e + 0.5 * (wide.atol + wide.rtol * e.abs())), COURSE).passed


def test_the_relative_part_scales_with_the_expected_value_not_with_the_students():
    case, at = _edge_case("float16")
    tol, e = TOLERANCES["float16"], case.expected[0].reshape(-1)
    i = int(e.argmax())  # above zero: the student's value is the larger in magnitude
    up = _beyond(case, at, i).reshape(-1)
    assert (up[i] - e[i]).abs() <= tol.atol + tol.rtol * up[i].abs()  # inside a tolerance taken on the student's
    assert not judge_case(case, *_labelled(case, up.reshape(at.shape)), COURSE).passed


# ------------------------------------------------------------------------------------------ NaN and inf


def _nan_case() -> Case:
    """qk_scores on a q with a NaN in row 1: the expected scores are NaN on that whole row, finite elsewhere."""
    q = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    k = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    q[1, 2] = float("nan")
    expected = (q.double() @ k.double().T) / 2.0
    assert expected[1].isnan().all() and expected[[0, 2]].isfinite().all()
    return Case(
        "qk_scores",
        "nan_row",
        "q (3, 4) float32 with a NaN in row 1",
        "call",
        {"kind": "call", "args": [{"t": "q"}, {"t": "k"}]},
        tensors={"q": q, "k": k},
        dtype="float32",
        expected=[expected],
    )


def test_nan_where_the_expected_value_is_nan_too_is_fine():
    case = _nan_case()
    result = judge("qk_scores", lambda c: returns(c.expected[0].float()), [case])
    assert result.status == "passed", result.feedback


def test_nan_where_the_expected_value_is_finite_fails_with_nan_output():
    case = _nan_case()

    def answer(c):
        got = c.expected[0].float().clone()
        got[0, 3] = float("nan")
        return returns(got)

    result = judge("qk_scores", answer, [case])
    assert result.score == 0.0
    assert [d.id for d in result.diagnoses] == ["nan_output"]
    assert "(1 values of scores)" in result.diagnoses[0].message


def test_a_finite_value_where_nan_is_expected_fails():
    case = _nan_case()
    result = judge("qk_scores", lambda c: returns(c.expected[0].nan_to_num(0.0).float()), [case])
    assert result.score == 0.0
    assert "nan_output" not in [d.id for d in result.diagnoses]


def test_inf_where_the_expected_value_is_finite_is_nan_output():
    (case,) = [c for c in cases("qk_scores") if c.id == "v0"]
    got = case.expected[0].float().clone()
    got[0, 0] = float("inf")
    result = judge_case(case, *returns(got), COURSE)
    assert not result.passed
    assert [p.id for p in result.problems] == ["nan_output"]


def test_the_same_infinity_as_expected_is_fine():
    case = _nan_case()
    case.expected[0][0, 0] = float("-inf")

    def answer(c):
        got = c.expected[0].float().clone()
        return returns(got)

    assert judge("qk_scores", answer, [case]).status == "passed"


def test_the_detail_names_the_values_that_should_have_been_nan():
    case = _nan_case()
    result = judge("qk_scores", lambda c: returns(c.expected[0].nan_to_num(0.0).float()), [case])
    (only,) = result.cases
    assert only.detail.startswith("scores: 5 of 15 values are off")
    assert "at [1, " in only.detail and "expected nan" in only.detail


def test_a_finite_value_where_inf_is_expected_fails():
    case = _nan_case()
    case.expected[0][0, 0] = float("-inf")

    def answer(c):
        got = c.expected[0].float().clone()
        got[0, 0] = 0.0
        return returns(got)

    assert judge("qk_scores", answer, [case]).status != "passed"
