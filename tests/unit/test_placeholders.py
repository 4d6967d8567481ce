"""attnlab.child.placeholders: what earlier() gives in the grader's worker has the contract's shapes and errors,
and is never the answer.

The reference is the oracle here (the full install); in the worker these stand-ins run beside student code,
where the reference never is, and the leak scan finds none of its lines in them.
"""

from __future__ import annotations

from pathlib import Path

import attnlab.reference as ref
import pytest
import torch
from attnlab.child import placeholders
from attnlab.judging.tolerance import close

torch.manual_seed(0)
Q, K, V = torch.randn(2, 3, 4, 8), torch.randn(2, 3, 6, 8), torch.randn(2, 3, 6, 5)
MASK = torch.rand(4, 6) > 0.3


def test_each_stand_in_keeps_the_contracts_shapes_dtypes_and_devices():
    assert placeholders.qk_scores(Q, K).shape == (2, 3, 4, 6)
    scores = placeholders.qk_scores(Q.half(), K.half())
    assert scores.dtype == torch.float16
    weights = placeholders.softmax_with_temperature(scores.float().masked_fill(~MASK, float("-inf")), 0.5)
    assert close(weights.sum(-1).double(), torch.ones(2, 3, 4, dtype=torch.float64), 1e-6, 1e-6)
    assert (weights[..., ~MASK] == 0).all()  # a hidden key gets no weight
    empty = placeholders.softmax_with_temperature(torch.full((2, 3), float("-inf")))
    assert torch.equal(empty, torch.zeros(2, 3))  # a row with nothing left is 0, not NaN
    assert placeholders.causal_mask(5).shape == (5, 5) and placeholders.causal_mask(5).dtype == torch.bool
    out, w = placeholders.attention(Q, K, V, MASK)
    assert out.shape == (2, 3, 4, 5) and w.shape == (2, 3, 4, 6)
    meta, _ = placeholders.attention(Q.to("meta"), K.to("meta"), V.to("meta"))
    assert meta.device.type == "meta"
    mha = placeholders.MultiHeadAttention(8, 2)
    out, w = mha(torch.randn(3, 5, 8), causal=True)
    assert out.shape == (3, 5, 8) and w.shape == (3, 2, 5, 5)
    assert {n for n, _ in mha.named_parameters()} >= {"W_q.weight", "W_k.weight", "W_v.weight", "W_o.weight"}


def test_each_stand_in_raises_the_contracts_errors():
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="temperature"):
            placeholders.softmax_with_temperature(torch.zeros(2, 2), bad)
    with pytest.raises(ValueError, match="seq_len"):
        placeholders.causal_mask(0)
    with pytest.raises(ValueError, match="divisible"):
        placeholders.MultiHeadAttention(6, 4)


def test_no_stand_in_is_the_answer():
    s = torch.randn(2, 4, 6, dtype=torch.float64)
    assert not close(placeholders.qk_scores(Q.double(), K.double()), ref.qk_scores(Q.double(), K.double()), 1e-3, 1e-3)
    assert not close(placeholders.softmax_with_temperature(s, 0.7), ref.softmax_with_temperature(s, 0.7), 1e-3, 1e-3)
    assert not torch.equal(placeholders.causal_mask(4), ref.causal_mask(4))
    got, want = (
        placeholders.attention(Q.double(), K.double(), V.double()),
        ref.attention(Q.double(), K.double(), V.double()),
    )
    assert not close(got[0], want[0], 1e-3, 1e-3)


def test_a_name_with_no_stand_in_raises_where_it_is_called():
    missing = placeholders.earlier("positional_encoding")
    with pytest.raises(NameError, match="define it in this notebook"):
        missing(4, 8)
    assert placeholders.earlier("qk_scores") is placeholders.qk_scores


def test_the_leak_scan_finds_no_line_of_the_answers_in_them():
    from attnlab.student_build import find_leaks

    assert find_leaks([Path(placeholders.__file__)]) == []
