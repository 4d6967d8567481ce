"""A student's lessons 1 and 2 and both ALiBi tasks, qk_scores without its sqrt(d): alibi_attention is right."""

import math

import torch


def qk_scores(q, k):
    return q @ k.transpose(-2, -1)  # the sqrt(d) forgotten


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    z = scores / temperature
    z = z - z.max(dim=dim, keepdim=True).values.nan_to_num(neginf=0.0)
    e = torch.exp(z)
    return e / e.sum(dim=dim, keepdim=True).clamp_min(1e-30)


def alibi_bias(n_heads, seq_len):
    m = torch.tensor([2 ** (-8 * (h + 1) / n_heads) for h in range(n_heads)])
    pos = torch.arange(seq_len)
    return -m.view(n_heads, 1, 1) * (pos.view(-1, 1) - pos.view(1, -1)).abs()


def alibi_attention(q, k, v):
    H, L = q.shape[-3], q.shape[-2]
    weights = softmax_with_temperature(qk_scores(q, k) + alibi_bias(H, L).to(q.dtype))
    return weights @ v, weights
