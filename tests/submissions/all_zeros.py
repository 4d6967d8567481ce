"""Attention lab: placeholders only (every function returns zeros of the right shape, dtype and device).

Nothing is computed, so nothing may score: not even the cases that check only devices.
"""

import torch
from torch import nn


def qk_scores(q, k):
    """q: (..., L, d), k: (..., S, d) -> zeros (..., L, S)."""
    return torch.zeros(*q.shape[:-1], k.shape[-2], dtype=q.dtype, device=q.device)


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    """zeros like scores."""
    return torch.zeros_like(scores)


def causal_mask(seq_len, device=None):
    """bool (seq_len, seq_len), all False."""
    return torch.zeros(seq_len, seq_len, dtype=torch.bool, device=device)


def attention(q, k, v, mask=None, temperature=1.0):
    """zeros (..., L, dv) and zeros (..., L, S)."""
    out = torch.zeros(*q.shape[:-1], v.shape[-1], dtype=q.dtype, device=q.device)
    weights = torch.zeros(*q.shape[:-1], k.shape[-2], dtype=q.dtype, device=q.device)
    return out, weights


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.d_model, self.n_heads = d_model, n_heads
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.W_o = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, causal=False):
        B, L, _ = x.shape
        out = torch.zeros(B, L, self.d_model, dtype=x.dtype, device=x.device)
        weights = torch.zeros(B, self.n_heads, L, L, dtype=x.dtype, device=x.device)
        return out, weights


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    """An all-zero heatmap, with the token labels and a colorbar."""
    import matplotlib.pyplot as plt
    import numpy as np

    if key_tokens is None:
        key_tokens = query_tokens
    if ax is None:
        _, ax = plt.subplots()
    im = ax.imshow(np.zeros((len(query_tokens), len(key_tokens))), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(key_tokens)), labels=list(key_tokens))
    ax.set_yticks(range(len(query_tokens)), labels=list(query_tokens))
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.figure.colorbar(im, ax=ax)
    return ax


def positional_encoding(seq_len, d_model, device=None):
    return torch.zeros(seq_len, d_model, device=device)


class KVCacheAttention(nn.Module):
    def __init__(self, d_model, bias=True):
        super().__init__()
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.seen = 0

    def forward(self, x_new):
        B, n, d = x_new.shape
        self.seen += n
        return x_new.new_zeros(B, n, d), x_new.new_zeros(B, n, self.seen)
