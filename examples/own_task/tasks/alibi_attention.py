"""alibi_attention: a course's own task that calls two of attnlab's, written against attnlab.task_api alone.

Attention with ALiBi: each head's scores, q @ k^T / sqrt(d), get the head's distance penalty added
(tasks/alibi_bias.py) before the softmax, and the weights blend the values:

    weights = softmax_with_temperature(qk_scores(q, k) + alibi_bias(n_heads, seq_len))
    output = weights @ v

The student's function calls their own qk_scores and softmax_with_temperature, as the lessons' attention
does. The spec lists them as callees: what they returned is recorded, and where one of them is wrong, the
grader replays the reference below with what the student's returned (the reference calls them by name), so
that a slip in qk_scores is charged to qk_scores, not to this task.
"""

from __future__ import annotations

import torch

# The built-in tasks' reference functions: this module runs on the trusted side only, where they are.
from attnlab.reference import qk_scores, softmax_with_temperature
from attnlab.task_api import Slip, Task, TaskSpec, call_case


def alibi_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, sign: float = -1.0):
    """q, k: (B, n_heads, L, d), v: (B, n_heads, L, dv) -> (output (B, n_heads, L, dv), weights (B, n_heads, L, L)).
    `sign` is for the slip below: +1 rewards distance where ALiBi penalises it."""
    n_heads, seq_len = q.shape[-3], q.shape[-2]
    m = torch.pow(2.0, -8.0 * torch.arange(1, n_heads + 1, dtype=q.dtype, device=q.device) / n_heads)
    pos = torch.arange(seq_len, dtype=q.dtype, device=q.device)
    bias = sign * m[:, None, None] * (pos[:, None] - pos[None, :]).abs()
    weights = softmax_with_temperature(qk_scores(q, k) + bias)
    return weights @ v, weights


def distance_rewarded(case):
    """The slip `alibi_distance_rewarded`: the bias added with the wrong sign (both outputs, float64)."""
    q, k, v = (case.tensors[n].to(torch.float64) for n in "qkv")
    return list(alibi_attention(q, k, v, sign=1.0))


def cases(draw, dtypes, devices):
    plan = [(2, 4, 6, 8, 5, "float32", True, ""), (1, 1, 5, 4, 4, "float64", True, "one head")]
    plan += [(2, 8, 7, 16, 3, "float64", False, "eight heads"), (3, 2, 1, 8, 2, "float32", False, "one token")]
    out = []
    for n, (B, H, L, d, dv, dt, grad, note) in enumerate(plan):
        if dt not in dtypes:
            continue
        q, k, v = draw.randn(B, H, L, d, dtype=dt), draw.randn(B, H, L, d, dtype=dt), draw.randn(B, H, L, dv, dtype=dt)
        label = f"q {tuple(q.shape)}, v {tuple(v.shape)} {dt}" + (f" ({note})" if note else "")
        out.append(
            call_case(
                "alibi_attention",
                f"v{n}",
                label,
                [("q", q), ("k", k), ("v", v)],
                alibi_attention,
                dtype=dt,
                grad=grad,
                draw=draw,
            )
        )
    return out


TASK = Task(
    TaskSpec(
        "alibi_attention",
        "alibi_attention",
        args=("q", "k", "v"),
        outputs=("output", "weights"),
        callees=("qk_scores", "softmax_with_temperature"),
        replayed=("qk_scores", "softmax_with_temperature"),
        computes=("matmul", "exp"),
        todo="add each head's ALiBi bias to qk_scores(q, k), take softmax_with_temperature, and blend v",
        axes=(("head", "query", "feature"), ("head", "query", "key")),
        distributions=("weights",),
    ),
    reference=alibi_attention,
    cases=cases,
    slips=(
        Slip(
            "alibi_distance_rewarded",
            "the distance rewarded, not penalised",
            "your weights lean towards far keys: ALiBi subtracts m_h * |i - j| from each head's scores, so that near "
            "keys weigh more; check the sign of your bias",
            distance_rewarded,
        ),
    ),
)
