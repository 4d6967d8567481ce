# Demo: a typical mistake. attention applies the mask after the softmax by zeroing weights,
# so masked rows no longer sum to 1.
"""Attention lab: my solutions."""

import math

import torch
from torch import nn


def qk_scores(q, k):
    """q: (..., L, d), k: (..., S, d) -> scores (..., L, S)."""
    d = q.size(-1)
    scores = torch.matmul(q, k.transpose(-2, -1))  # (..., L, d) @ (..., d, S) -> (..., L, S)
    return scores / math.sqrt(d)


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    """softmax(scores / temperature) along dim, same shape as scores."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    z = scores / temperature
    # subtract the row max so exp never overflows; an all -inf row has max -inf, use 0 there instead
    row_max = z.max(dim=dim, keepdim=True).values
    row_max = row_max.masked_fill(torch.isinf(row_max), 0.0)
    e = torch.exp(z - row_max)
    denom = e.sum(dim=dim, keepdim=True)
    denom = denom.masked_fill(denom == 0, 1.0)  # all -inf row: 0 / 1 = 0 instead of 0 / 0
    return e / denom


def causal_mask(seq_len, device=None):
    """bool (seq_len, seq_len): True where key j <= query i."""
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    ones = torch.ones(seq_len, seq_len, dtype=torch.bool, device=device)
    return torch.tril(ones)  # lower triangle including the diagonal


def attention(q, k, v, mask=None, temperature=1.0):
    """q (..., L, d), k (..., S, d), v (..., S, dv) -> (out (..., L, dv), weights (..., L, S))."""
    scores = qk_scores(q, k)  # (..., L, S)
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    if mask is not None:
        weights = weights * mask  # zero the keys we may not look at
    out = torch.matmul(weights, v)  # (..., L, S) @ (..., S, dv) -> (..., L, dv)
    return out, weights


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model = d_model
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.W_o = nn.Linear(d_model, d_model, bias=bias)

    def _split_heads(self, t):
        B, L, _ = t.shape
        t = t.view(B, L, self.n_heads, self.d_head)  # (B, L, H, dh)
        return t.transpose(1, 2)  # (B, H, L, dh)

    def forward(self, x, causal=False):
        B, L, _ = x.shape
        q = self._split_heads(self.W_q(x))  # (B, H, L, dh)
        k = self._split_heads(self.W_k(x))  # (B, H, L, dh)
        v = self._split_heads(self.W_v(x))  # (B, H, L, dh)
        mask = causal_mask(L, device=x.device) if causal else None  # (L, L)
        out, weights = attention(q, k, v, mask)  # (B, H, L, dh), (B, H, L, L)
        out = out.transpose(1, 2).contiguous().view(B, L, self.d_model)  # (B, L, H, dh) -> (B, L, d_model)
        return self.W_o(out), weights


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    """Heatmap of weights (L, S): rows are queries, columns are keys."""
    import matplotlib.pyplot as plt

    if key_tokens is None:
        key_tokens = query_tokens
    data = torch.as_tensor(weights).detach().cpu().float().numpy()
    if ax is None:
        fig, ax = plt.subplots()
    im = ax.imshow(data, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(key_tokens)))
    ax.set_xticklabels(key_tokens, rotation=90)
    ax.set_yticks(range(len(query_tokens)))
    ax.set_yticklabels(query_tokens)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.figure.colorbar(im, ax=ax)
    return ax


def positional_encoding(seq_len, d_model, device=None):
    """Sinusoidal positions (seq_len, d_model), float32: sin in even columns, cos in odd ones."""
    if seq_len < 1 or d_model < 2 or d_model % 2 != 0:
        raise ValueError(f"need seq_len >= 1 and an even d_model >= 2, got {seq_len}, {d_model}")
    pos = torch.arange(seq_len, dtype=torch.float32, device=device).unsqueeze(1)  # (L, 1)
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / d_model))
    angle = pos * freq  # (L, d_model / 2)
    pe = torch.zeros(seq_len, d_model, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe


class KVCacheAttention(nn.Module):
    """One causal head that reads a few tokens per call and caches the keys and values it has seen."""

    def __init__(self, d_model, bias=True):
        super().__init__()
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.k_cache = None  # (B, t, d_model)
        self.v_cache = None

    def forward(self, x_new):
        q, k, v = self.W_q(x_new), self.W_k(x_new), self.W_v(x_new)  # (B, n, d_model)
        if self.k_cache is None:
            self.k_cache, self.v_cache = k, v
        else:
            self.k_cache = torch.cat([self.k_cache, k], dim=1)  # (B, t, d_model)
            self.v_cache = torch.cat([self.v_cache, v], dim=1)
        t, n = self.k_cache.shape[1], x_new.shape[1]
        mask = causal_mask(t, device=x_new.device)[t - n :]  # (n, t)
        return attention(q, self.k_cache, self.v_cache, mask)
