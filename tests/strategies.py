"""Hypothesis strategies for attention inputs: shapes first, then seeded tensors of those shapes.

Shapes are drawn by hypothesis so that it can shrink a failure to the smallest case. Tensor values come
from a seeded torch generator instead of element by element, which keeps each example fast; like the
grader's cases, they are drawn in float64 and rounded once to the dtype under test.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st

HEAD_WIDTHS = (1, 8, 64)  # d = 1 is the degenerate case, 64 a usual head width


@dataclass(frozen=True)
class AttentionShape:
    """q (*lead, L, d), k (*lead, S, d), v (*lead, S, dv)."""

    lead: tuple[int, ...]
    L: int
    S: int
    d: int
    dv: int

    @property
    def q(self) -> tuple[int, ...]:
        return (*self.lead, self.L, self.d)

    @property
    def k(self) -> tuple[int, ...]:
        return (*self.lead, self.S, self.d)

    @property
    def v(self) -> tuple[int, ...]:
        return (*self.lead, self.S, self.dv)

    @property
    def scores(self) -> tuple[int, ...]:
        return (*self.lead, self.L, self.S)


@dataclass(frozen=True)
class AttentionInputs:
    shape: AttentionShape
    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    seed: int

    def __repr__(self) -> str:  # what hypothesis prints for a falsifying example
        s = self.shape
        return f"AttentionInputs(lead={s.lead}, L={s.L}, S={s.S}, d={s.d}, dv={s.dv}, {self.q.dtype}, seed={self.seed})"


def batch_dims(max_dims: int = 2, max_size: int = 3) -> st.SearchStrategy[tuple[int, ...]]:
    """Leading batch dimensions: () up to `max_dims` sizes in 1..max_size."""
    return st.lists(st.integers(1, max_size), max_size=max_dims).map(tuple)


def seq_lens(max_len: int = 9) -> st.SearchStrategy[int]:
    """A sequence length; 1 (a single query or key) is drawn often enough to be tested."""
    return st.one_of(st.just(1), st.integers(1, max_len))


@st.composite
def attention_shapes(draw, *, square: bool = False, head_widths=HEAD_WIDTHS, max_len: int = 9) -> AttentionShape:
    """lead of 0-2 dims, L and S (equal if `square`), d from `head_widths`, dv free."""
    L = draw(seq_lens(max_len))
    S = L if square else draw(seq_lens(max_len))
    return AttentionShape(draw(batch_dims()), L, S, draw(st.sampled_from(head_widths)), draw(st.integers(1, 8)))


def seeds() -> st.SearchStrategy[int]:
    return st.integers(0, 2**31 - 1)


def randn(shape, dtype: torch.dtype, generator: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    """Standard normal values times `scale`, drawn in float64 and rounded once to `dtype`."""
    return (torch.randn(*shape, generator=generator, dtype=torch.float64) * scale).to(dtype)


@st.composite
def attention_inputs(draw, dtype: torch.dtype, *, square: bool = False, head_widths=HEAD_WIDTHS) -> AttentionInputs:
    """q, k, v of one drawn AttentionShape, all of `dtype`."""
    shape = draw(attention_shapes(square=square, head_widths=head_widths))
    seed = draw(seeds())
    g = torch.Generator().manual_seed(seed)
    return AttentionInputs(shape, randn(shape.q, dtype, g), randn(shape.k, dtype, g), randn(shape.v, dtype, g), seed)


@st.composite
def key_masks(draw, L: int, S: int, lead: tuple[int, ...] = (), *, full_rows: bool = False) -> torch.Tensor:
    """bool (*lead, L, S), True = may attend. Every row sees at least one key unless `full_rows`,
    which may hide every key of some rows."""
    g = torch.Generator().manual_seed(draw(seeds()))
    mask = torch.rand(*lead, L, S, generator=g) < 0.6
    seen = torch.randint(0, S, (*lead, L, 1), generator=g)
    mask.scatter_(-1, seen, True)  # every row sees something
    if full_rows:
        hidden = torch.rand(*lead, L, 1, generator=g) < 0.3
        mask &= ~hidden  # (*lead, L, S): rows with hidden = True see nothing
    return mask


@st.composite
def mha_configs(draw, max_heads: int = 4, max_head_width: int = 8) -> tuple[int, int, int, int, bool]:
    """(B, L, d_model, n_heads, bias) with d_model divisible by n_heads."""
    n_heads = draw(st.integers(1, max_heads))
    d_model = n_heads * draw(st.integers(1, max_head_width))
    return draw(st.integers(1, 3)), draw(seq_lens()), d_model, n_heads, draw(st.booleans())
