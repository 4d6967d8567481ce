"""Attention, built from torch primitives: the course's reference answers.

Read it top to bottom like the lessons: how well each query matches each key, a softmax that turns
scores into weights, the causal mask that hides the future, attention as a weighted blend of values,
several heads side by side, a heatmap of the weights, then (lesson 5) the positions that attention cannot
see by itself and the cache of keys and values that makes generating one token at a time cheap. Every
function has the signature the students implement, with the shapes in its docstring.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = [
    "qk_scores",
    "softmax_with_temperature",
    "causal_mask",
    "attention",
    "MultiHeadAttention",
    "plot_attention",
    "positional_encoding",
    "KVCacheAttention",
]


def qk_scores(q: Tensor, k: Tensor) -> Tensor:
    """How well each query matches each key.

    q: (..., L, d), k: (..., S, d) -> scores (..., L, S), scores = q @ k^T / sqrt(d).

    Dividing by sqrt(d) keeps the scores near unit size whatever the head width: a dot product of d
    random unit-variance numbers has variance d.
    """
    d = q.shape[-1]
    return q @ k.transpose(-2, -1) / math.sqrt(d)  # (..., L, d) @ (..., d, S) -> (..., L, S)


def _check_temperature(temperature: float) -> None:
    t = float(temperature)
    if not math.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be a finite positive number, got {temperature!r}")


def softmax_with_temperature(scores: Tensor, temperature: float = 1.0, dim: int = -1) -> Tensor:
    """softmax(scores / temperature) along `dim`; same shape as `scores`.

    Stable for large |scores| and tiny temperatures: we subtract the largest score before exp, which
    changes nothing mathematically because softmax ignores a shift. Subtracting *before* dividing by
    the temperature keeps float16 from overflowing (100 / 0.001 > 65504) and keeps close scores apart.
    A slice that is entirely -inf has nothing to attend to and gives all zeros, not NaN.
    """
    _check_temperature(temperature)
    s_max = scores.amax(dim=dim, keepdim=True)
    s_max = torch.where(torch.isfinite(s_max), s_max, torch.zeros_like(s_max))  # all -inf slice -> 0
    z = (scores - s_max) / temperature  # every entry <= 0
    e = torch.exp(z)  # every entry in [0, 1]; -inf -> 0
    total = e.sum(dim=dim, keepdim=True)
    return e / torch.where(total > 0, total, torch.ones_like(total))  # 0 / 1 = 0 for an empty slice


def causal_mask(seq_len: int, device=None) -> Tensor:
    """bool (seq_len, seq_len) on `device`: True where query i may look at key j, that is j <= i."""
    if int(seq_len) < 1:
        raise ValueError(f"seq_len must be at least 1, got {seq_len!r}")
    i = torch.arange(seq_len, device=device).unsqueeze(1)  # (L, 1) query positions
    j = torch.arange(seq_len, device=device).unsqueeze(0)  # (1, L) key positions
    return j <= i  # (L, L)


def attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, temperature: float = 1.0
) -> tuple[Tensor, Tensor]:
    """Scaled dot-product attention.

    q (..., L, d), k (..., S, d), v (..., S, dv); mask bool, broadcastable to (..., L, S), True = may
    attend. Returns (output (..., L, dv), weights (..., L, S)). Each output row is a weighted blend of
    the value rows, and each weight row sums to 1 (or is all zeros where the mask hides every key).
    """
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # hidden keys get no weight at all
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    return weights @ v, weights  # (..., L, S) @ (..., S, dv) -> (..., L, dv)


class MultiHeadAttention(nn.Module):
    """Several attention heads side by side, each on its own slice of the features.

    W_q, W_k, W_v, W_o are nn.Linear(d_model, d_model). Head h uses features [h*d_head, (h+1)*d_head)
    of each projection and scales its scores by 1/sqrt(d_head).
    """

    def __init__(self, d_model: int, n_heads: int, bias: bool = True):
        super().__init__()
        if n_heads < 1 or d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.W_o = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x: Tensor, causal: bool = False) -> tuple[Tensor, Tensor]:
        """x (B, L, d_model) -> (out (B, L, d_model), weights (B, n_heads, L, L))."""
        B, L, _ = x.shape
        H, dh = self.n_heads, self.d_head

        def split(t: Tensor) -> Tensor:  # (B, L, d_model) -> (B, H, L, dh)
            return t.view(B, L, H, dh).transpose(1, 2)

        q, k, v = split(self.W_q(x)), split(self.W_k(x)), split(self.W_v(x))  # each (B, H, L, dh)
        mask = causal_mask(L, device=x.device) if causal else None  # (L, L), broadcasts over B, H
        out, weights = attention(q, k, v, mask)  # (B, H, L, dh), (B, H, L, L)
        out = out.transpose(1, 2).reshape(B, L, self.d_model)  # (B, L, H, dh) -> (B, L, d_model)
        return self.W_o(out), weights


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    """Heatmap of weights (L, S): row i is query_tokens[i], column j is key_tokens[j].

    Tick labels on both axes, axis labels and a colorbar. Returns the Axes.
    """
    import matplotlib.pyplot as plt

    w = torch.as_tensor(weights).detach().float().cpu().numpy()
    key_tokens = query_tokens if key_tokens is None else key_tokens
    if ax is None:
        _, ax = plt.subplots()
    image = ax.imshow(w, vmin=0.0, vmax=1.0, cmap="viridis")
    ax.set_xticks(range(len(key_tokens)), labels=list(key_tokens), rotation=45, ha="right")
    ax.set_yticks(range(len(query_tokens)), labels=list(query_tokens))
    ax.set_xlabel("key (what is looked at)")
    ax.set_ylabel("query (who is looking)")
    ax.figure.colorbar(image, ax=ax, label="attention weight")
    return ax


def positional_encoding(seq_len: int, d_model: int, device=None) -> Tensor:
    """The sinusoidal positional encoding of Vaswani et al. (2017): float32 (seq_len, d_model) on `device`.

    PE[pos, 2i] = sin(pos / 10000^(2i / d_model)) and PE[pos, 2i + 1] = cos(pos / 10000^(2i / d_model)):
    each pair of columns turns at its own frequency, from one radian per position down to one turn in
    about 60 000 positions, so every position gets its own pattern. d_model is a positive even number.
    """
    if int(seq_len) < 1:
        raise ValueError(f"seq_len must be at least 1, got {seq_len!r}")
    if int(d_model) < 2 or d_model % 2:
        raise ValueError(f"d_model must be a positive even number, got {d_model!r}")
    return sinusoids(seq_len, d_model, device=device).to(torch.float32)


def sinusoids(seq_len: int, d_model: int, base: float = 10000.0, device=None) -> Tensor:
    """positional_encoding's values in float64 (seq_len, d_model), with the frequencies' `base` as a parameter."""
    pos = torch.arange(seq_len, dtype=torch.float64, device=device).unsqueeze(1)  # (L, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64, device=device)  # (d_model / 2,)
    angle = pos / base ** (two_i / d_model)  # (L, d_model / 2)
    pe = torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1)  # (L, d_model / 2, 2)
    return pe.reshape(seq_len, d_model)  # columns sin, cos, sin, cos, ...


class KVCacheAttention(nn.Module):
    """One causal self-attention head that reads a sequence a few tokens at a time, with a KV cache.

    W_q, W_k, W_v are nn.Linear(d_model, d_model). Each call gets the next tokens only: the prompt first,
    then one token per call, as a model generates. The keys and values of every token seen so far are kept
    in self.k_cache and self.v_cache, (B, t, d_model), so no earlier token is projected twice. The outputs,
    call after call, are the rows of one causal pass over the whole sequence.
    """

    def __init__(self, d_model: int, bias: bool = True):
        super().__init__()
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.k_cache: Tensor | None = None  # (B, t, d_model): the keys of the t tokens seen so far
        self.v_cache: Tensor | None = None  # (B, t, d_model)

    def forward(self, x_new: Tensor) -> tuple[Tensor, Tensor]:
        """x_new (B, n, d_model), the next n tokens -> (out (B, n, d_model), weights (B, n, t)), t = tokens seen."""
        q, k, v = self.W_q(x_new), self.W_k(x_new), self.W_v(x_new)  # each (B, n, d_model)
        if self.k_cache is None:
            self.k_cache, self.v_cache = k, v
        else:
            self.k_cache = torch.cat([self.k_cache, k], dim=1)  # (B, t, d_model), t = t_before + n
            self.v_cache = torch.cat([self.v_cache, v], dim=1)
        t, n = self.k_cache.shape[1], x_new.shape[1]
        mask = causal_mask(t, device=x_new.device)[t - n :]  # (n, t): new token i sits at position t - n + i
        return attention(q, self.k_cache, self.v_cache, mask)  # (B, n, d_model), (B, n, t)
