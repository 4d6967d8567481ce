"""How near is near enough: the tolerance helpers the judge, the diagnosis rules, the describer and the callee
replay share. Torch and the standard library only; it knows no task and no mistake.
"""

from __future__ import annotations

import torch


def within(a: torch.Tensor, b: torch.Tensor, atol: float, rtol: float) -> torch.Tensor:
    """Elementwise: |a - b| <= atol + rtol |b| where b is finite; where b is inf or NaN, a must be the same."""
    a, b = a.to(torch.float64), b.to(torch.float64)
    near = ((a - b).abs() <= atol + rtol * b.abs()) & torch.isfinite(b)  # else inf <= atol + rtol * inf
    return near | (a.isnan() & b.isnan()) | (a == b)


def close(a: torch.Tensor, b: torch.Tensor, atol: float, rtol: float) -> bool:
    """Same shape and every value `within` tolerance: NaN only where both are NaN, inf only where both are."""
    return a.shape == b.shape and bool(within(a, b, atol, rtol).all())


def loose_tolerance(dtype: str) -> tuple[float, float]:
    """(atol, rtol) for matching a mistake model or a relation on a case of `dtype`: looser than grading, since
    only the shape of the error counts."""
    return (1e-4, 1e-4) if dtype in ("float64", "float32") else (5e-2, 5e-2)


def loose(r) -> tuple[float, float]:
    return loose_tolerance(r.case.dtype)
