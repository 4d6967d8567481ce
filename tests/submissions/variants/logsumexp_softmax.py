"""A correct submission whose softmax is exp(z - logsumexp(z))."""

import math

import torch
from torch import nn


def qk_scores(q, k):
    d = q.shape[-1]
    return torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(d)  # (..., L, S)


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    z = scores / temperature
    lse = torch.logsumexp(z, dim=dim, keepdim=True)  # stable log of the normaliser
    # an all -inf slice has lse = -inf and -inf - (-inf) would be NaN; subtracting 0 gives exp(-inf) = 0
    lse = torch.where(torch.isneginf(lse), torch.zeros_like(lse), lse)
    return torch.exp(z - lse)


def causal_mask(seq_len, device=None):
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril_()


def attention(q, k, v, mask=None, temperature=1.0):
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    return torch.matmul(weights, v), weights  # (..., L, dv), (..., L, S)


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

    def forward(self, x, causal=False):
        B, L, _ = x.shape
        q = self.W_q(x).view(B, L, self.n_heads, self.d_head).transpose(1, 2)  # (B, H, L, dh)
        k = self.W_k(x).view(B, L, self.n_heads, self.d_head).transpose(1, 2)  # (B, H, L, dh)
        v = self.W_v(x).view(B, L, self.n_heads, self.d_head).transpose(1, 2)  # (B, H, L, dh)
        mask = causal_mask(L, device=x.device) if causal else None  # (L, L)
        out, weights = attention(q, k, v, mask)  # (B, H, L, dh), (B, H, L, L)
        out = out.transpose(1, 2).reshape(B, L, self.d_model)  # (B, L, d_model)
        return self.W_o(out), weights


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    import matplotlib.pyplot as plt

    if key_tokens is None:
        key_tokens = query_tokens
    data = torch.as_tensor(weights).detach().cpu().float().numpy()
    if ax is None:
        fig, ax = plt.subplots()
    im = ax.imshow(data, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(key_tokens)))
    ax.set_xticklabels(key_tokens)
    ax.set_yticks(range(len(query_tokens)))
    ax.set_yticklabels(query_tokens)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    fig = ax.figure
    fig.colorbar(im, ax=ax)
    return ax
