"""A correct submission that writes every product with torch.einsum."""

import math

import torch
from torch import nn


def qk_scores(q, k):
    """q: (..., L, d), k: (..., S, d) -> (..., L, S)."""
    return torch.einsum("...ld,...sd->...ls", q, k) / math.sqrt(q.shape[-1])


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    z = scores / temperature
    m = z.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # all -inf slice: shift by 0
    e = torch.exp(z - m)
    s = e.sum(dim=dim, keepdim=True)
    return e / torch.where(s > 0, s, torch.ones_like(s))


def causal_mask(seq_len, device=None):
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    pos = torch.arange(seq_len, device=device)
    return pos[None, :] <= pos[:, None]  # (L, L): key j <= query i


def attention(q, k, v, mask=None, temperature=1.0):
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = softmax_with_temperature(scores, temperature)  # (..., L, S)
    out = torch.einsum("...ls,...sd->...ld", weights, v)  # (..., L, dv)
    return out, weights


def _project(linear, x):
    """x (B, L, d_in) -> (B, L, d_out) with the layer's own weight and bias."""
    y = torch.einsum("bli,oi->blo", x, linear.weight)
    if linear.bias is not None:
        y = y + linear.bias
    return y


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} must be a multiple of n_heads={n_heads}")
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.W_o = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, causal=False):
        B, L, D = x.shape
        H, dh = self.n_heads, self.d_head

        def heads(t):  # (B, L, D) -> (B, H, L, dh)
            return torch.einsum("blhd->bhld", t.reshape(B, L, H, dh))

        q, k, v = heads(_project(self.W_q, x)), heads(_project(self.W_k, x)), heads(_project(self.W_v, x))
        mask = causal_mask(L, device=x.device) if causal else None
        out, weights = attention(q, k, v, mask)  # (B, H, L, dh), (B, H, L, L)
        out = torch.einsum("bhld->blhd", out).reshape(B, L, D)  # (B, L, D)
        return _project(self.W_o, out), weights


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    import matplotlib.pyplot as plt

    key_tokens = query_tokens if key_tokens is None else key_tokens
    w = torch.as_tensor(weights).detach().to("cpu", torch.float32).numpy()
    if ax is None:
        _, ax = plt.subplots()
    im = ax.imshow(w, vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(key_tokens)), labels=list(key_tokens))
    ax.set_yticks(range(len(query_tokens)), labels=list(query_tokens))
    ax.set_xlabel("keys")
    ax.set_ylabel("queries")
    ax.figure.colorbar(im, ax=ax)
    return ax
