"""The reference answers against torch's own code, in every dtype the course grades.

The grader holds a submission to the reference computed in float64 from the same inputs, within the
course's tolerance for the submission's dtype. The reference must pass that test itself. So every
comparison here runs the reference in the dtype under test, runs torch's function (`torch.softmax`,
`F.scaled_dot_product_attention`, `nn.MultiheadAttention`) on the same values upcast to float64, and
checks |got - expected| <= atol + rtol |expected| with the tolerances of course.yml.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from attnlab import reference as ref  # noqa: E402
from attnlab.course import load_course  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from strategies import AttentionShape, attention_inputs, batch_dims, key_masks, mha_configs, randn, seeds  # noqa: E402
from torch import nn  # noqa: E402

COURSE = load_course(Path(__file__).resolve().parent.parent / "course.yml")
TOL = {getattr(torch, name): (t.atol, t.rtol) for name, t in COURSE.tolerances.items()}  # dtype -> (atol, rtol)
DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]
GRAD_DTYPES = [torch.float64, torch.float32]
NAME = {torch.float64: "float64", torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}

FEW = settings(max_examples=12, deadline=None)

dtypes = pytest.mark.parametrize("dtype", DTYPES, ids=NAME.get)
grad_dtypes = pytest.mark.parametrize("dtype", GRAD_DTYPES, ids=NAME.get)

# (lead, L, S, d, dv) that must be covered whatever hypothesis draws.
EDGE_SHAPES = [
    AttentionShape((), 1, 5, 64, 3),  # one query, no batch
    AttentionShape((2, 3), 4, 7, 1, 2),  # two batch dims, L != S, d = 1
    AttentionShape((2,), 6, 6, 8, 8),  # square
    AttentionShape((), 3, 1, 8, 4),  # one key
]

MISMATCH = (
    "{task}, case {case}: {what} is off by {err:.3g} at {where} (got {got:.6g}, expected {exp:.6g}); "
    "allowed {atol:g} + {rtol:g}·|expected| for {dtype}, worst error/allowed {ratio:.3g}."
)


def assert_close(
    task: str, case: str, what: str, got: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype
) -> None:
    """|got - expected| <= atol + rtol |expected| everywhere, with the course's tolerance for `dtype`.

    `expected` is float64; a NaN or inf in `got` fails unless `expected` has the same value there.
    """
    assert got.shape == expected.shape, (
        f"{task}, case {case}: {what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    )
    atol, rtol = TOL[dtype]
    got64, expected = got.detach().to(torch.float64), expected.detach().to(torch.float64)
    err = (got64 - expected).abs()
    allowed = atol + rtol * expected.abs()
    ok = (err <= allowed) | (got64 == expected)
    if bool(ok.all()):
        return
    ratio = torch.where(ok, torch.zeros_like(err), (err / allowed).nan_to_num(math.inf))
    flat = int(ratio.argmax())
    where = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), err.shape))
    raise AssertionError(
        MISMATCH.format(
            task=task,
            case=case,
            what=what,
            err=float(err.flatten()[flat]),
            where=f"index {where}",
            got=float(got64.flatten()[flat]),
            exp=float(expected.flatten()[flat]),
            atol=atol,
            rtol=rtol,
            dtype=NAME[dtype],
            ratio=float(ratio.flatten()[flat]),
        )
    )


def label(shape, dtype: torch.dtype, note: str = "") -> str:
    return f"{tuple(shape)} {NAME[dtype]}" + (f" ({note})" if note else "")


def up(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """The same values in float64, for torch's side of a comparison."""
    return [t.detach().to(torch.float64) for t in tensors]


def torch_scores(q64: torch.Tensor, k64: torch.Tensor) -> torch.Tensor:
    """q k^T / sqrt(d) in float64, written independently of the reference: (..., L, d), (..., S, d) -> (..., L, S)."""
    return torch.einsum("...ld,...sd->...ls", q64, k64) / math.sqrt(q64.shape[-1])


def seeded_inputs(shape: AttentionShape, dtype: torch.dtype, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return randn(shape.q, dtype, g), randn(shape.k, dtype, g), randn(shape.v, dtype, g)


# ------------------------------------------------------------------------------------------- qk_scores


@pytest.mark.qk_scores
@dtypes
@FEW
@given(data=st.data())
def test_qk_scores_matches_torch(dtype, data):
    x = data.draw(attention_inputs(dtype))
    q64, k64 = up(x.q, x.k)
    assert_close(
        "qk_scores", label(x.shape.scores, dtype), "scores", ref.qk_scores(x.q, x.k), torch_scores(q64, k64), dtype
    )


@pytest.mark.qk_scores
@pytest.mark.softmax_with_temperature
@dtypes
@FEW
@given(data=st.data())
def test_qk_scores_then_softmax_matches_torch_softmax(dtype, data):
    x = data.draw(attention_inputs(dtype))
    q64, k64 = up(x.q, x.k)
    got = ref.softmax_with_temperature(ref.qk_scores(x.q, x.k))
    assert_close(
        "qk_scores + softmax",
        label(x.shape.scores, dtype),
        "weights",
        got,
        torch.softmax(torch_scores(q64, k64), -1),
        dtype,
    )


# ---------------------------------------------------------------------------- softmax_with_temperature

TEMPERATURES = [1e-3, 0.05, 1.0, 3.0, 1e3]


# Scores 4 + T·N(0, 1) are of a usual size and as far apart as T, where the temperature matters. They
# fail the tolerance, up to 4x in float32 and 2-4x in float16/bfloat16 at T = 0.05 and 0.001, for a
# softmax that divides by T before subtracting the maximum: z = x / T is then rounded at the size of
# |x| / T, and that rounding error lands in the exponent.
@pytest.mark.softmax_with_temperature
@dtypes
@pytest.mark.parametrize("T", TEMPERATURES, ids=lambda T: f"T={T:g}")
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_matches_torch(dtype, T, dim):
    g = torch.Generator().manual_seed(7)
    x = (4.0 + T * torch.randn(6, 5, 32, generator=g, dtype=torch.float64)).to(dtype)
    (x64,) = up(x)
    got = ref.softmax_with_temperature(x, T, dim)
    assert_close(
        "softmax_with_temperature",
        label(x.shape, dtype, f"4 + T·N(0, 1), T = {T:g}, dim = {dim}"),
        "weights",
        got,
        torch.softmax(x64 / T, dim),
        dtype,
    )


@pytest.mark.softmax_with_temperature
@pytest.mark.parametrize(
    ("dtype", "values"),
    [
        pytest.param(torch.float16, [100.0, 0.0], id="float16-overflow"),  # x / T = 1e5 > 65504 would be inf, then NaN
        pytest.param(torch.bfloat16, [-1.1640625, -1.171875], id="bfloat16-tie"),  # x / T would round both to -1168
    ],
)
def test_softmax_tiny_temperature_known_inputs(dtype, values):
    x = torch.tensor(values, dtype=dtype)
    (x64,) = up(x)
    got = ref.softmax_with_temperature(x, 1e-3)
    assert_close(
        "softmax_with_temperature",
        label(x.shape, dtype, f"T = 0.001, x = {values}"),
        "weights",
        got,
        torch.softmax(x64 / 1e-3, -1),
        dtype,
    )


@pytest.mark.softmax_with_temperature
@dtypes
@FEW
@given(lead=batch_dims(), n=st.integers(1, 9), T=st.sampled_from([1.0, 3.0, 1e3]), seed=seeds(), data=st.data())
def test_softmax_any_shape_and_dim(dtype, lead, n, T, seed, data):
    shape = (*lead, n)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    x = randn(shape, dtype, torch.Generator().manual_seed(seed), scale=2.0)
    (x64,) = up(x)
    got = ref.softmax_with_temperature(x, T, dim)
    case = label(shape, dtype, f"T = {T:g}, dim = {dim}")
    assert_close("softmax_with_temperature", case, "weights", got, torch.softmax(x64 / T, dim), dtype)
    assert_close(
        "softmax_with_temperature",
        case,
        "sum along dim",
        got.to(torch.float64).sum(dim),
        torch.ones_like(x64.sum(dim)),
        dtype,
    )


@pytest.mark.softmax_with_temperature
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=NAME.get)
def test_softmax_large_logits_stay_finite(dtype):
    x = randn((4, 8), dtype, torch.Generator().manual_seed(3), scale=1e4)  # |x| ~ 1e4: exp(x) overflows
    (x64,) = up(x)
    got = ref.softmax_with_temperature(x, 1.0, -1)
    assert torch.isfinite(got).all(), (
        f"softmax_with_temperature, case {label(x.shape, dtype, '|x| ~ 1e4')}: got inf or NaN"
    )
    assert_close(
        "softmax_with_temperature", label(x.shape, dtype, "|x| ~ 1e4"), "weights", got, torch.softmax(x64, -1), dtype
    )


@pytest.mark.softmax_with_temperature
@dtypes
@pytest.mark.parametrize("dim", [0, -1])
def test_softmax_all_minus_inf_slice_gives_zeros(dtype, dim):
    x = randn((4, 5), dtype, torch.Generator().manual_seed(1))
    x.select(1 if dim == 0 else 0, 2).fill_(float("-inf"))  # row 2 (dim -1) or column 2 (dim 0): all -inf along `dim`
    (x64,) = up(x)
    expected = torch.softmax(x64, dim).nan_to_num(0.0)  # torch gives NaN for the empty slice, we want 0
    got = ref.softmax_with_temperature(x, 1.0, dim)
    assert_close(
        "softmax_with_temperature",
        label(x.shape, dtype, f"slice 2 along dim {dim} is all -inf"),
        "weights",
        got,
        expected,
        dtype,
    )


@pytest.mark.softmax_with_temperature
@pytest.mark.parametrize("T", [0.0, -1.0, float("nan"), float("inf")], ids=str)
def test_softmax_rejects_bad_temperature(T):
    with pytest.raises(ValueError, match="temperature"):
        ref.softmax_with_temperature(torch.randn(2, 3), T)


# An exact shift: x on a grid of quarters in [-8, 8], c a power of two small enough that x + c is
# still exact in the dtype, so any difference comes from the softmax and not from rounding the input.
SHIFT = {torch.float64: 2.0**40, torch.float32: 2.0**16, torch.float16: 16.0, torch.bfloat16: 16.0}


def shifted_scores(dtype: torch.dtype, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(x + c in `dtype`, x in float64) with x of shape (4, 9) on the grid of quarters."""
    g = torch.Generator().manual_seed(seed)
    x64 = torch.randint(-32, 33, (4, 9), generator=g).to(torch.float64) / 4
    shifted = (x64 + SHIFT[dtype]).to(dtype)
    assert torch.equal(shifted.to(torch.float64) - SHIFT[dtype], x64), "the shift must be exact in this dtype"
    return shifted, x64


@pytest.mark.softmax_with_temperature
@dtypes
@FEW
@given(seed=seeds(), T=st.sampled_from([0.3, 0.5, 1.0, 3.0]))
def test_softmax_shift_invariance(dtype, seed, T):
    """softmax(x + c) = softmax(x), also for a T that does not divide exactly: (x + c) / 3 would be
    rounded at the size of c / 3, so the maximum has to come off first."""
    shifted, x64 = shifted_scores(dtype, seed)
    got = ref.softmax_with_temperature(shifted, T)
    assert_close(
        "softmax_with_temperature",
        label(x64.shape, dtype, f"every score + {SHIFT[dtype]:g}, T = {T:g}"),
        "weights",
        got,
        torch.softmax(x64 / T, -1),
        dtype,
    )


# -------------------------------------------------------------------------------------------- causal_mask


@pytest.mark.causal_mask
@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_causal_mask_is_lower_triangle(n):
    m = ref.causal_mask(n)
    assert m.dtype == torch.bool and m.shape == (n, n) and m.device.type == "cpu"
    assert torch.equal(m, torch.tril(torch.ones(n, n)).bool())


@pytest.mark.causal_mask
def test_causal_mask_on_meta_device():
    m = ref.causal_mask(6, device="meta")
    assert m.is_meta and m.dtype == torch.bool and m.shape == (6, 6)


@pytest.mark.causal_mask
@pytest.mark.parametrize("n", [0, -1])
def test_causal_mask_rejects_empty(n):
    with pytest.raises(ValueError, match="seq_len"):
        ref.causal_mask(n)


# -------------------------------------------------------------------------------------------- attention


def check_attention(x_q, x_k, x_v, dtype, case, *, mask=None, T=1.0, is_causal=False):
    """Reference attention in `dtype` against SDPA (output) and torch.softmax (weights) in float64."""
    q64, k64, v64 = up(x_q, x_k, x_v)
    d = q64.shape[-1]
    ref_mask = ref.causal_mask(q64.shape[-2]) if is_causal else mask
    out, weights = ref.attention(x_q, x_k, x_v, ref_mask, T)
    expected = F.scaled_dot_product_attention(
        q64, k64, v64, attn_mask=mask, is_causal=is_causal, scale=1 / (math.sqrt(d) * T)
    )
    scores = torch_scores(q64, k64) / T
    if ref_mask is not None:
        scores = scores.masked_fill(~ref_mask, float("-inf"))
    assert_close("attention", case, "output", out, expected, dtype)
    assert_close("attention", case, "weights", weights, torch.softmax(scores, -1).nan_to_num(0.0), dtype)


@pytest.mark.attention
@dtypes
@FEW
@given(data=st.data())
def test_attention_matches_sdpa(dtype, data):
    x = data.draw(attention_inputs(dtype))
    check_attention(x.q, x.k, x.v, dtype, label(x.shape.q, dtype, f"S = {x.shape.S}, dv = {x.shape.dv}"))


@pytest.mark.attention
@dtypes
@pytest.mark.parametrize("shape", EDGE_SHAPES, ids=lambda s: f"lead{s.lead}-L{s.L}-S{s.S}-d{s.d}")
def test_attention_edge_shapes(dtype, shape):
    q, k, v = seeded_inputs(shape, dtype)
    check_attention(q, k, v, dtype, label(shape.q, dtype, f"S = {shape.S}, dv = {shape.dv}"))


@pytest.mark.attention
@dtypes
@FEW
@given(data=st.data(), full_shape=st.booleans())
def test_attention_with_mask_matches_sdpa(dtype, data, full_shape):
    """A (L, S) mask broadcast over the batch, or one of the full shape; some rows may see no key at all
    (SDPA then gives a zero output row, and so does the reference)."""
    x = data.draw(attention_inputs(dtype))
    lead = x.shape.lead if full_shape else ()
    mask = data.draw(key_masks(x.shape.L, x.shape.S, lead, full_rows=True))
    check_attention(x.q, x.k, x.v, dtype, label(x.shape.q, dtype, f"mask {tuple(mask.shape)}"), mask=mask)


@pytest.mark.attention
@pytest.mark.causal_mask
@dtypes
@FEW
@given(data=st.data())
def test_attention_causal_matches_sdpa_is_causal(dtype, data):
    x = data.draw(attention_inputs(dtype, square=True))
    check_attention(x.q, x.k, x.v, dtype, label(x.shape.q, dtype, "causal"), is_causal=True)


@pytest.mark.attention
@dtypes
@pytest.mark.parametrize("T", [0.5, 2.0, 3.0])
@FEW
@given(data=st.data())
def test_attention_temperature_is_sdpa_scale(dtype, T, data):
    """attention(..., temperature=T) is SDPA with scale = 1 / (sqrt(d) T)."""
    x = data.draw(attention_inputs(dtype))
    check_attention(x.q, x.k, x.v, dtype, label(x.shape.q, dtype, f"T = {T:g}"), T=T)


# ------------------------------------------------------------------------------------------- MultiHeadAttention


def seeded_mha(
    d_model: int, n_heads: int, bias: bool, dtype: torch.dtype, g: torch.Generator
) -> ref.MultiHeadAttention:
    """The reference module with weights ~ N(0, 1/d_model) and biases ~ N(0, 0.01), rounded to `dtype`."""
    m = ref.MultiHeadAttention(d_model, n_heads, bias=bias)
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(randn(p.shape, torch.float64, g, scale=1 / math.sqrt(d_model) if name.endswith("weight") else 0.1))
    return m.to(dtype)


def torch_mha_like(m: ref.MultiHeadAttention) -> nn.MultiheadAttention:
    """nn.MultiheadAttention in float64 holding the same weights: in_proj = [W_q; W_k; W_v], out_proj = W_o."""
    bias = m.W_q.bias is not None
    t = nn.MultiheadAttention(m.d_model, m.n_heads, bias=bias, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        t.in_proj_weight.copy_(torch.cat([m.W_q.weight, m.W_k.weight, m.W_v.weight]))  # (3 d_model, d_model)
        t.out_proj.weight.copy_(m.W_o.weight)
        if bias:
            t.in_proj_bias.copy_(torch.cat([m.W_q.bias, m.W_k.bias, m.W_v.bias]))  # (3 d_model,)
            t.out_proj.bias.copy_(m.W_o.bias)
    return t


def run_torch_mha(t: nn.MultiheadAttention, x64: torch.Tensor, causal: bool):
    """(out (B, L, d_model), weights (B, H, L, L)). torch's bool attn_mask means True = blocked, the
    opposite of ours, hence ~causal_mask."""
    blocked = ~ref.causal_mask(x64.shape[1]) if causal else None
    return t(x64, x64, x64, attn_mask=blocked, need_weights=True, average_attn_weights=False)


@pytest.mark.multi_head_attention
@dtypes
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@FEW
@given(config=mha_configs(), seed=seeds())
def test_mha_matches_torch(dtype, causal, config, seed):
    B, L, d_model, n_heads, bias = config
    g = torch.Generator().manual_seed(seed)
    m = seeded_mha(d_model, n_heads, bias, dtype, g)
    x = randn((B, L, d_model), dtype, g)
    with torch.no_grad():
        out, weights = m(x, causal=causal)
        expected_out, expected_weights = run_torch_mha(torch_mha_like(m), *up(x), causal)
    case = label(x.shape, dtype, f"{n_heads} heads, bias = {bias}, causal = {causal}")
    assert_close("multi_head_attention", case, "output", out, expected_out, dtype)
    assert_close("multi_head_attention", case, "per-head weights", weights, expected_weights, dtype)


@pytest.mark.multi_head_attention
@pytest.mark.parametrize(("d_model", "n_heads"), [(10, 3), (8, 3), (6, 4)])
def test_mha_rejects_indivisible_heads(d_model, n_heads):
    with pytest.raises(ValueError, match="divisible"):
        ref.MultiHeadAttention(d_model, n_heads)


# ------------------------------------------------------------------------------------------- gradients


@pytest.mark.attention
@grad_dtypes
@FEW
@given(data=st.data())
def test_attention_gradients_match_torch(dtype, data):
    """d/d(q, k, v) of sum(u_out * out + u_w * weights), against SDPA and torch.softmax in float64."""
    x = data.draw(attention_inputs(dtype))
    mask = data.draw(key_masks(x.shape.L, x.shape.S))  # every row sees a key, so every gradient is finite
    g = torch.Generator().manual_seed(data.draw(seeds(), label="upstream seed"))
    u_out = randn((*x.shape.lead, x.shape.L, x.shape.dv), dtype, g)  # upstream gradients, the same values on both sides
    u_w = randn(x.shape.scores, dtype, g)

    leaves = [t.detach().clone().requires_grad_(True) for t in (x.q, x.k, x.v)]
    out, weights = ref.attention(*leaves, mask)
    ((out * u_out).sum() + (weights * u_w).sum()).backward()

    u_out, u_w = up(u_out, u_w)
    leaves64 = [t.detach().requires_grad_(True) for t in up(x.q, x.k, x.v)]
    q64, k64, v64 = leaves64
    expected_out = F.scaled_dot_product_attention(q64, k64, v64, attn_mask=mask)
    expected_w = torch.softmax(torch_scores(q64, k64).masked_fill(~mask, float("-inf")), -1)
    ((expected_out * u_out).sum() + (expected_w * u_w).sum()).backward()

    case = label(x.shape.q, dtype, f"S = {x.shape.S}, dv = {x.shape.dv}, masked")
    for name, got, exp in zip("qkv", leaves, leaves64):
        assert_close("attention", case, f"gradient of {name}", got.grad, exp.grad, dtype)


@pytest.mark.multi_head_attention
@grad_dtypes
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@FEW
@given(config=mha_configs(), seed=seeds())
def test_mha_gradients_match_torch(dtype, causal, config, seed):
    B, L, d_model, n_heads, bias = config
    g = torch.Generator().manual_seed(seed)
    m = seeded_mha(d_model, n_heads, bias, dtype, g)
    t = torch_mha_like(m)
    x = randn((B, L, d_model), dtype, g).requires_grad_(True)
    x64 = x.detach().to(torch.float64).requires_grad_(True)
    u_out, u_w = randn((B, L, d_model), dtype, g), randn((B, n_heads, L, L), dtype, g)  # upstream gradients

    out, weights = m(x, causal=causal)
    ((out * u_out).sum() + (weights * u_w).sum()).backward()
    u_out, u_w = up(u_out, u_w)
    expected_out, expected_w = run_torch_mha(t, x64, causal)
    ((expected_out * u_out).sum() + (expected_w * u_w).sum()).backward()

    case = label(x.shape, dtype, f"{n_heads} heads, bias = {bias}, causal = {causal}")
    d = d_model
    pairs = [
        ("x", x.grad, x64.grad),
        ("W_q.weight", m.W_q.weight.grad, t.in_proj_weight.grad[:d]),
        ("W_k.weight", m.W_k.weight.grad, t.in_proj_weight.grad[d : 2 * d]),
        ("W_v.weight", m.W_v.weight.grad, t.in_proj_weight.grad[2 * d :]),
        ("W_o.weight", m.W_o.weight.grad, t.out_proj.weight.grad),
    ]
    if bias:
        pairs += [
            ("W_q.bias", m.W_q.bias.grad, t.in_proj_bias.grad[:d]),
            ("W_k.bias", m.W_k.bias.grad, t.in_proj_bias.grad[d : 2 * d]),
            ("W_v.bias", m.W_v.bias.grad, t.in_proj_bias.grad[2 * d :]),
            ("W_o.bias", m.W_o.bias.grad, t.out_proj.bias.grad),
        ]
    for name, got, exp in pairs:
        assert_close("multi_head_attention", case, f"gradient of {name}", got, exp, dtype)


# ------------------------------------------------------------------------------------------- plot_attention


@pytest.fixture
def close_figures():
    yield
    plt.close("all")


@pytest.mark.plot_attention
@pytest.mark.parametrize(
    ("queries", "keys"),
    [
        (["the", "cat", "sat", "down"], None),  # self-attention: keys are the queries
        (["river", "bank"], ["the", "river", "bank", "flooded", "today"]),  # cross-attention, L != S
    ],
)
@pytest.mark.usefixtures("close_figures")
def test_plot_attention_draws_labelled_heatmap(queries, keys):
    keys_shown = queries if keys is None else keys
    weights = torch.softmax(randn((len(queries), len(keys_shown)), torch.float64, torch.Generator().manual_seed(0)), -1)
    ax = ref.plot_attention(weights, queries, keys)

    assert isinstance(ax, matplotlib.axes.Axes)
    (image,) = ax.get_images()
    assert torch.allclose(torch.as_tensor(image.get_array().data, dtype=torch.float64), weights, atol=1e-6)
    assert image.colorbar is not None and image.colorbar.ax in ax.figure.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == keys_shown
    assert [t.get_text() for t in ax.get_yticklabels()] == queries
    assert ax.get_xlabel() and ax.get_ylabel()


@pytest.mark.plot_attention
@pytest.mark.usefixtures("close_figures")
def test_plot_attention_uses_the_given_axes():
    fig, given_ax = plt.subplots()
    ax = ref.plot_attention(torch.full((2, 2), 0.5), ["a", "b"], ax=given_ax)
    assert ax is given_ax
