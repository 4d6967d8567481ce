"""alibi_bias: a course's own task, written against attnlab's public task API (attnlab.task_api) alone.

ALiBi (Press et al., "Train Short, Test Long", 2022) gives a transformer no position embeddings at all.
Each head instead adds a penalty to its scores that grows with the distance between query and key:
head h of n_heads subtracts m_h * |i - j| from the score of query i for key j, with the slopes a
geometric sequence, m_h = 2 ** (-8 * (h + 1) / n_heads). The first head's slope is the steepest: it
looks near; the last head's is the gentlest: it looks far.

The student writes ``alibi_bias(n_heads, seq_len)``, which returns the (n_heads, seq_len, seq_len) bias.
This file is the instructor's: it holds the reference, so it stays on the trusted side. The student
build carries only the contract below and the public cases' data.
"""

from __future__ import annotations

import torch
from attnlab.task_api import Task, TaskSpec, call_case


def alibi_bias(n_heads: int, seq_len: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The reference: bias[h, i, j] = -m_h * |i - j|, shape (n_heads, seq_len, seq_len), in `dtype`: float32 as
    the contract asks, float64 for the expected values (`exact`)."""
    m = torch.pow(2.0, -8.0 * torch.arange(1, n_heads + 1, dtype=torch.float64) / n_heads)
    pos = torch.arange(seq_len, dtype=torch.float64)
    distance = (pos[:, None] - pos[None, :]).abs()
    return (-m[:, None, None] * distance).to(dtype)


def exact(n_heads: int, seq_len: int) -> torch.Tensor:
    return alibi_bias(n_heads, seq_len, dtype=torch.float64)


def cases(draw, dtypes, devices):
    """One case per (n_heads, seq_len): one head, heads of a power of two and not, a single token, more
    heads than tokens. The inputs are plain numbers, so `draw` has nothing to draw here."""
    plan = [(1, 5, "one head"), (4, 6, ""), (8, 7, "the lesson's figure"), (6, 4, "n_heads not a power of 2")]
    plan += [(2, 1, "one token"), (8, 3, "more heads than tokens")]
    return [
        call_case(
            "alibi_bias",
            f"h{h}_n{n}",
            f"n_heads = {h}, seq_len = {n}" + (f" ({note})" if note else ""),
            [("n_heads", h), ("seq_len", n)],
            alibi_bias,
            exact=exact,
        )
        for h, n, note in plan
    ]


TASK = Task(
    TaskSpec(
        "alibi_bias",
        "alibi_bias",
        args=("n_heads", "seq_len"),
        outputs=("bias",),
        todo="subtract m_h * |i - j| for head h, query i and key j, with m_h = 2 ** (-8 * (h + 1) / n_heads)",
        axes=(("head", "query", "key"),),
    ),
    reference=alibi_bias,
    cases=cases,
)
