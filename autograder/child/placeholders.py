"""What ``earlier(name)`` gives a submission in the grader's worker: stand-ins with values, never the answer.

In a student's kernel, ``from attnlab import earlier`` reads a function of an earlier lesson from the
student's own notebook of it (``attnlab.earlier_lessons``). The worker reads no other notebook: the stub
``attnlab`` it gives student code has an ``earlier`` that returns these stand-ins instead. Each takes the
contract's arguments, raises the contract's errors on invalid input, and returns outputs of the contract's
shapes, dtypes and devices, computed from its inputs (with a matmul and an exp, as the real ones, so that
a caller's trace looks as a caller's does), but deliberately not the answer:

- ``qk_scores``: one number per query minus one per key, not a dot product;
- ``softmax_with_temperature``: exp of tanh of the scores, normalized (a hidden key gets 0);
- ``causal_mask``: every key allowed;
- ``attention``: those three, then the blend of the values;
- ``plot_attention``: draws nothing; ``MultiHeadAttention``: four projections and a placeholder blend.

A caller task (lesson 3's ``attention`` calling lesson 1's ``qk_scores``) then runs to its end, and the
parent replays the reference caller with what the stand-ins returned (``judge._attribute_to_callees``), so
that the caller is graded on its own work: no grade rests on a stand-in, and no lesson's grade on another.

The worker keeps this file's source and runs it the first time a submission calls earlier() (``worker._earlier``):
a worker whose submission asks for none holds nothing of it. It ships in the student build, so its lines are its
own: the leak scan (``attnlab.student_build.find_leaks``) finds none of the reference's in it. Standard library
and torch only (the child zone).
"""

from __future__ import annotations

import math

import torch


def _temperature(temperature) -> float:
    t = float(temperature)
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"temperature must be finite and greater than 0, got {temperature!r}")
    return t


def qk_scores(q, k):
    """q (..., L, d), k (..., S, d) -> (..., L, S): each query's feature sum less each key's, halved."""
    return q.sum(-1, keepdim=True) - 0.5 * k.sum(-1).unsqueeze(-2)  # (..., L, 1) - (..., 1, S)


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    """Rows of exp(tanh(scores / T)), made to sum to 1; a key at -inf gets 0, a row with none left is 0."""
    e = torch.exp(torch.tanh(scores / _temperature(temperature))) * torch.isfinite(scores)  # (..., L, S)
    total = e.sum(dim=dim, keepdim=True)
    return e / total.where(total > 0, torch.ones_like(total))  # a row with nothing left stays 0


def causal_mask(seq_len, device=None):
    """bool (seq_len, seq_len), every key allowed."""
    if int(seq_len) < 1:
        raise ValueError(f"seq_len must be at least 1, got {seq_len!r}")
    return torch.ones(int(seq_len), int(seq_len), dtype=torch.bool, device=device)


def attention(q, k, v, mask=None, temperature=1.0):
    """(output (..., L, dv), weights (..., L, S)) from the stand-ins above."""
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = torch.where(mask, scores, float("-inf"))  # a hidden key: -inf, so weight 0
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    return torch.matmul(weights, v), weights  # (..., L, dv)


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    """Draws nothing on `ax` (the current Axes when None) and returns it."""
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


class MultiHeadAttention(torch.nn.Module):
    """The contract's layers (W_q, W_k, W_v, W_o) and shapes, with the stand-in attention over whole vectors."""

    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        if n_heads < 1 or d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        for name in ("W_q", "W_k", "W_v", "W_o"):
            setattr(self, name, torch.nn.Linear(d_model, d_model, bias=bias))

    def forward(self, x, causal=False):
        """x (B, L, d_model) -> (out (B, L, d_model), weights (B, n_heads, L, L))."""
        mask = causal_mask(x.shape[1], device=x.device) if causal else None
        out, weights = attention(self.W_q(x), self.W_k(x), self.W_v(x), mask)  # (B, L, d), (B, L, L)
        return self.W_o(out), weights.unsqueeze(1).expand(-1, self.n_heads, -1, -1)


STAND_INS = {
    f.__name__: f
    for f in (qk_scores, softmax_with_temperature, causal_mask, attention, plot_attention, MultiHeadAttention)
}


def earlier(name, here=None):
    """The stand-in for `name`; for a name with none, a function that raises where it is called."""
    if name in STAND_INS:
        return STAND_INS[name]

    def missing(*args, **kwargs):
        raise NameError(f"earlier({name!r}): the grader has no stand-in for {name!r}; define it in this notebook")

    return missing
