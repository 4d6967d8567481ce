"""A correct submission whose MultiHeadAttention loops over the heads in Python."""

import math

import torch
import torch.nn as nn


def qk_scores(q, k):
    d = q.shape[-1]
    return q @ k.transpose(-1, -2) / d**0.5  # (..., L, S)


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError("temperature must be a finite positive number")
    z = scores / temperature
    z_max = z.max(dim=dim, keepdim=True).values.detach()  # the shift does not change the result
    z_max = torch.nan_to_num(z_max, neginf=0.0)
    e = (z - z_max).exp()
    total = e.sum(dim=dim, keepdim=True).clamp_min(torch.finfo(e.dtype).tiny)
    return e / total


def causal_mask(seq_len, device=None):
    if seq_len < 1:
        raise ValueError("seq_len must be positive")
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()


def attention(q, k, v, mask=None, temperature=1.0):
    scores = qk_scores(q, k)
    if mask is not None:
        scores = torch.where(mask, scores, torch.full_like(scores, float("-inf")))
    weights = softmax_with_temperature(scores, temperature=temperature, dim=-1)
    return weights @ v, weights


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError("n_heads must divide d_model")
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.W_o = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, causal=False):
        L = x.shape[1]
        q, k, v = self.W_q(x), self.W_k(x), self.W_v(x)  # each (B, L, d_model)
        mask = causal_mask(L, device=x.device) if causal else None
        outs, all_weights = [], []
        for h in range(self.n_heads):
            cols = slice(h * self.d_head, (h + 1) * self.d_head)
            out_h, w_h = attention(q[:, :, cols], k[:, :, cols], v[:, :, cols], mask)  # (B, L, dh), (B, L, L)
            outs.append(out_h)
            all_weights.append(w_h)
        out = torch.cat(outs, dim=-1)  # (B, L, d_model)
        weights = torch.stack(all_weights, dim=1)  # (B, H, L, L)
        return self.W_o(out), weights


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    import matplotlib.pyplot as plt

    if key_tokens is None:
        key_tokens = query_tokens
    if ax is None:
        ax = plt.figure().add_subplot()
    im = ax.imshow(torch.as_tensor(weights).detach().cpu().float().numpy(), aspect="auto")
    ax.set_xticks(list(range(len(key_tokens))))
    ax.set_xticklabels(list(key_tokens))
    ax.set_yticks(list(range(len(query_tokens))))
    ax.set_yticklabels(list(query_tokens))
    ax.set_xlabel("key token")
    ax.set_ylabel("query token")
    ax.figure.colorbar(im, ax=ax)
    return ax
