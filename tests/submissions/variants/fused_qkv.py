"""A correct submission whose MultiHeadAttention computes q, k, v with one fused F.linear."""

import math

import torch
import torch.nn.functional as F
from torch import nn


def qk_scores(q, k):
    return q @ k.mT / math.sqrt(q.size(-1))  # (..., L, d) @ (..., d, S) -> (..., L, S)


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be > 0 and finite, got {temperature}")
    z = scores / temperature
    z = z - z.amax(dim=dim, keepdim=True).nan_to_num(neginf=0.0)
    e = z.exp()
    total = e.sum(dim=dim, keepdim=True)
    return torch.where(total > 0, e / total, torch.zeros_like(e))


def causal_mask(seq_len, device=None):
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    return torch.tril(torch.ones((seq_len, seq_len), device=device)).bool()


def attention(q, k, v, mask=None, temperature=1.0):
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, -math.inf)
    weights = softmax_with_temperature(scores, temperature, dim=-1)
    return weights @ v, weights  # (..., L, dv), (..., L, S)


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) not divisible by n_heads ({n_heads})")
        self.d_model, self.n_heads = d_model, n_heads
        self.d_head = d_model // n_heads
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.W_o = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, causal=False):
        B, L, D = x.shape
        w = torch.cat([self.W_q.weight, self.W_k.weight, self.W_v.weight], dim=0)  # (3D, D)
        b = None
        if self.W_q.bias is not None:
            b = torch.cat([self.W_q.bias, self.W_k.bias, self.W_v.bias], dim=0)  # (3D,)
        qkv = F.linear(x, w, b)  # (B, L, 3D)
        q, k, v = qkv.split(D, dim=-1)  # each (B, L, D)
        q, k, v = (t.reshape(B, L, self.n_heads, self.d_head).transpose(1, 2) for t in (q, k, v))  # (B, H, L, dh)
        mask = causal_mask(L, device=x.device) if causal else None
        out, weights = attention(q, k, v, mask)  # (B, H, L, dh), (B, H, L, L)
        out = out.transpose(1, 2).reshape(B, L, D)
        return self.W_o(out), weights


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    import matplotlib.pyplot as plt

    key_tokens = query_tokens if key_tokens is None else key_tokens
    if ax is None:
        _, ax = plt.subplots()
    im = ax.imshow(torch.as_tensor(weights).detach().cpu().float().numpy(), vmin=0, vmax=1)
    ax.set_xticks(range(len(key_tokens)), labels=key_tokens)
    ax.set_yticks(range(len(query_tokens)), labels=query_tokens)
    ax.set_xlabel("attended key")
    ax.set_ylabel("query")
    ax.figure.colorbar(im, ax=ax)
    return ax
