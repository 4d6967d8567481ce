"""A correct submission that does its arithmetic in float64 and casts back to the input dtype."""

import math

import torch
import torch.nn.functional as F
from torch import nn


def qk_scores(q, k):
    scores = q.double() @ k.double().transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., L, S)
    return scores.to(q.dtype)


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"bad temperature {temperature}")
    z = scores.double() / temperature
    m = z.max(dim=dim, keepdim=True).values
    m = torch.where(m == float("-inf"), torch.zeros_like(m), m)
    e = torch.exp(z - m)
    s = e.sum(dim=dim, keepdim=True)
    s = torch.where(s == 0, torch.ones_like(s), s)
    return (e / s).to(scores.dtype)


def causal_mask(seq_len, device=None):
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    i = torch.arange(seq_len, device=device).view(-1, 1)  # (L, 1)
    j = torch.arange(seq_len, device=device).view(1, -1)  # (1, L)
    return j <= i


def attention(q, k, v, mask=None, temperature=1.0):
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    out = (weights.double() @ v.double()).to(v.dtype)  # (..., L, dv)
    return out, weights


def _linear64(layer, x):
    bias = None if layer.bias is None else layer.bias.double()
    return F.linear(x.double(), layer.weight.double(), bias)


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"{d_model} % {n_heads} != 0")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.W_o = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, causal=False):
        B, L, _ = x.shape
        H, dh = self.n_heads, self.d_head
        q = _linear64(self.W_q, x).view(B, L, H, dh).transpose(1, 2)  # (B, H, L, dh) float64
        k = _linear64(self.W_k, x).view(B, L, H, dh).transpose(1, 2)
        v = _linear64(self.W_v, x).view(B, L, H, dh).transpose(1, 2)
        mask = causal_mask(L, device=x.device) if causal else None
        out, weights = attention(q, k, v, mask)  # float64: (B, H, L, dh), (B, H, L, L)
        out = out.transpose(1, 2).reshape(B, L, self.d_model)  # (B, L, d_model)
        return _linear64(self.W_o, out).to(x.dtype), weights.to(x.dtype)


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    import matplotlib.pyplot as plt

    keys = list(query_tokens if key_tokens is None else key_tokens)
    data = torch.as_tensor(weights).detach().cpu().double().numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    mappable = ax.imshow(data, cmap="magma", vmin=0, vmax=1)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(keys)
    ax.set_yticks(range(len(query_tokens)))
    ax.set_yticklabels(list(query_tokens))
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.figure.colorbar(mappable, ax=ax)
    return ax
