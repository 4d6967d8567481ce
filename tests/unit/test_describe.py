"""The describer (``attnlab.judging.describe``) on made-up outputs, through the judge (no worker).

Each relation is produced by a student whose outputs are the expected ones put through it, on the course's real
cases, and named in the task's feedback; each has a control that is the same output with noise, or an unrelated
tensor, which no relation may name (the judge then says how many values are off). A rule's diagnosis keeps
priority over the describer's.
"""

from __future__ import annotations

import math

import attnlab.reference as ref
import pytest
import torch
from attnlab.judging import describe
from attnlab.judging.case import DT
from attnlab.judging.cases import make_cases
from attnlab.reference.attention import sinusoids

from .fakes import COURSE, checks_right, computed, judge, raised, returns, right, student_mha

NOISE = torch.Generator().manual_seed(7)


def _noise(t: torch.Tensor, size: float = 0.05) -> torch.Tensor:
    return t + size * torch.randn(t.shape, generator=NOISE, dtype=torch.float64)


def slipped(task: str, slip, the_cases=None):
    """The TaskResult of a student whose outputs are `slip(case, expected)` (expected: float64, bool for a mask)."""

    def values(c):
        return computed(c, *slip(c, [e if e.dtype == torch.bool else e.to(torch.float64) for e in c.expected]))

    return judge(task, lambda c: checks_right(c, values), the_cases)


def ids(result) -> list[str]:
    return [d.id for d in result.diagnoses]


def headline(result) -> str:
    return result.diagnoses[0].id


def some(task: str, keep) -> list:
    """The task's cases (seed 5, cpu) for which `keep(case)` holds, with its non-value cases."""
    return [c for c in make_cases(task, 5, COURSE.dtypes, ["cpu"]) if c.kind not in ("call", "module") or keep(c)]


# ------------------------------------------------------------------------------------------- the relations


def test_q_where_k_belongs_is_the_knob_of_qk_scores_args():
    def self_scores(c, e):
        q = c.tensors["q"].double()
        return [ref.qk_scores(q, q)]

    result = slipped("qk_scores", self_scores)
    assert headline(result) == "knob"
    assert "q @ q^T / sqrt(d): you used q where k belongs" in result.feedback
    control = slipped("qk_scores", lambda c, e: [_noise(self_scores(c, e)[0])])
    assert "knob" not in ids(control)


def test_the_values_mixed_by_the_scores_are_the_knob_of_the_blend():
    """out = scores @ v, the softmax's weights computed and left unused."""

    def by_scores(c, e, factor=1.0):
        q, k, v = (c.tensors[n].double() for n in "qkv")
        s = ref.qk_scores(q, k)
        if c.extra["mask"] is not None:
            s = s.masked_fill(c.extra["mask"].logical_not(), float("-inf"))
        return [factor * (s @ v), e[1]]

    result = slipped("attention", by_scores)
    assert "knob" in ids(result), result.feedback
    assert "your output is scores @ v, the values mixed by the scores from before the softmax" in result.feedback
    control = slipped("attention", lambda c, e: by_scores(c, e, factor=1.1))
    assert "knob" not in ids(control), control.feedback


def test_a_causal_mask_one_diagonal_up_is_the_knob_of_the_diagonal():
    result = slipped("causal_mask", lambda c, e: [torch.ones_like(e[0]).tril(1)])
    assert headline(result) == "knob" and "next key" in result.feedback
    noisy = slipped("causal_mask", lambda c, e: [torch.ones_like(e[0]).tril(1) & (torch.rand(e[0].shape) > 0.2)])
    assert "knob" not in ids(noisy)


def test_outputs_in_the_other_order_are_outputs_swapped():
    result = slipped("attention", lambda c, e: [e[1], e[0]])
    assert headline(result) == "outputs_swapped"
    assert "you returned (weights, output), where (output, weights) is asked for" in result.feedback
    control = slipped("attention", lambda c, e: [_noise(e[1]), e[0]] if e[1].shape == e[0].shape else [e[1], e[0]])
    assert "outputs_swapped" not in ids(control)


def test_extra_dimensions_of_size_1_are_extra_dims():
    result = slipped("positional_encoding", lambda c, e: [e[0].unsqueeze(0)])
    assert headline(result) == "extra_dims" and "wrong_shape" not in ids(result)
    assert "the expected values with 1 extra dimension of size 1" in result.feedback
    control = slipped("positional_encoding", lambda c, e: [_noise(e[0]).unsqueeze(0)])
    assert ids(control)[0] == "wrong_shape" and "extra_dims" not in ids(control)


def test_heads_and_queries_swapped_are_dims_reordered():
    result = slipped("multi_head_attention", lambda c, e: [e[0], e[1].transpose(1, 2)])
    assert headline(result) == "dims_reordered"
    assert "(batch item, query, head, key) where (batch item, head, query, key)" in result.feedback
    assert "swap the heads and the queries back (.transpose(-3, -2))" in result.feedback
    control = slipped("multi_head_attention", lambda c, e: [e[0], _noise(e[1]).transpose(1, 2)])
    assert "dims_reordered" not in ids(control)


def test_scores_summed_over_the_batch_are_reduced_dim():
    result = slipped("qk_scores", lambda c, e: [e[0].sum(0) if e[0].dim() > 2 else e[0]])
    assert headline(result) == "reduced_dim"
    assert "the sum over the batch items of the expected one" in result.feedback
    control = slipped("qk_scores", lambda c, e: [_noise(e[0].sum(0)) if e[0].dim() > 2 else e[0]])
    assert "reduced_dim" not in ids(control)


def test_wrong_only_in_half_precision_is_precision_only():
    def half_off(c, e):
        return [_noise(e[0], 0.5) if c.dtype in ("float16", "bfloat16") else e[0]]

    result = slipped("positional_encoding", lambda c, e: [e[0]])
    assert result.status == "passed"
    result = slipped("softmax_with_temperature", half_off)
    assert headline(result) == "precision_only"
    assert "right in float32 and float64 and wrong only in bfloat16 and float16" in result.feedback
    control = slipped("softmax_with_temperature", lambda c, e: [_noise(e[0]) if c.dtype != "float64" else e[0]])
    assert "precision_only" not in ids(control)


def test_positions_counted_from_1_are_index_map():
    def from_one(c, e):
        L, d = c.extra["seq_len"], c.extra["d_model"]
        return [sinusoids(L + 1, d)[1:].double()]

    result = slipped("positional_encoding", from_one)
    assert headline(result) == "index_map"
    assert "your position i holds what belongs at position i + 1: the positions are off by 1" in result.feedback
    control = slipped("positional_encoding", lambda c, e: [_noise(from_one(c, e)[0])])
    assert "index_map" not in ids(control)


@pytest.mark.parametrize(
    ("order", "words"),
    [
        (lambda d: list(range(0, d, 2)) + list(range(1, d, 2)), "the expected order interleaves them"),
        (lambda d: list(range(d))[::-1], "your columns run in reverse"),
    ],
    ids=["halves", "reversed"],
)
def test_columns_in_another_order_are_index_map(order, words):
    result = slipped("positional_encoding", lambda c, e: [e[0][:, order(e[0].shape[1])]])
    assert headline(result) == "index_map" and words in result.feedback


def test_values_written_into_the_next_columns_over_them_are_written_elsewhere():
    """pe[:, 0::2] written twice, the second time with the cosines: the even columns hold the odd ones' values and
    the odd columns stay zero."""

    def cos_twice(c, e):
        g = torch.zeros_like(e[0])
        g[:, 0::2] = e[0][:, 1::2]
        return [g]

    result = slipped("positional_encoding", cos_twice)
    assert headline(result) == "written_elsewhere", result.feedback
    assert (
        "your columns 0, 2, 4, ... (the even ones) hold what belongs 1 further on (your column i holds the expected "
        "column i + 1), and your columns 1, 3, 5, ... (the odd ones) are all zero"
    ) in result.feedback
    # the controls: the odd columns noise, not zero; the even columns from no one place
    noisy = slipped("positional_encoding", lambda c, e: [cos_twice(c, e)[0] + _noise(torch.zeros_like(e[0]))])
    assert "written_elsewhere" not in ids(noisy), noisy.feedback

    def scattered(c, e):
        g = cos_twice(c, e)[0]
        g[:, 0] = e[0][:, 0] + 0.3
        return [g]

    control = slipped("positional_encoding", scattered)
    assert "written_elsewhere" not in ids(control), control.feedback


def test_a_mask_not_cut_to_length_and_the_earlier_calls_kept_are_slice_of():
    """A buffer sliced by its rows only keeps all its columns; a cache that returns every position it holds keeps
    the earlier calls' rows: the expected values are one stretch of what came back."""
    result = slipped("causal_mask", lambda c, e: [torch.ones(e[0].shape[0], 64).tril().bool()[:, :64]])
    assert headline(result) == "slice_of", result.feedback
    assert "has 64 keys where 5 belong; its first 5 are the expected ones, and the other 59 do not belong" in (
        result.feedback
    )
    short = slipped("causal_mask", lambda c, e: [e[0][-2:]])
    assert headline(short) == "slice_of" and "only 2 of the 5 queries: the expected last 2" in short.feedback
    # the controls: a longer mask whose first columns are not the expected ones; rows that are no stretch of E's
    control = slipped("causal_mask", lambda c, e: [torch.ones(e[0].shape[0], 64).triu().bool()])
    assert "slice_of" not in ids(control), control.feedback
    control = slipped("causal_mask", lambda c, e: [e[0][[-1, 0]]])
    assert "slice_of" not in ids(control), control.feedback


def test_a_factor_named_by_the_case_is_scaled_values():
    def times_sqrt_d(c, e):
        return [e[0] * math.sqrt(c.tensors["q"].shape[-1]), e[1]]

    result = slipped("attention", times_sqrt_d)
    assert headline(result) == "scaled_values"
    assert "= sqrt(d): leaving out a division by sqrt(d) gives exactly this" in result.feedback
    assert "values are off" not in result.feedback
    control = slipped("attention", lambda c, e: [_noise(times_sqrt_d(c, e)[0]), e[1]])
    assert "scaled_values" not in ids(control)


def test_a_factor_that_changes_from_case_to_case_without_a_name_is_not_named():
    factors = iter(torch.linspace(1.3, 2.9, 40).tolist())
    result = slipped("attention", lambda c, e: [e[0] * next(factors), e[1]])
    assert "scaled_values" not in ids(result) and headline(result) == "wrong_values"


def test_a_sign_flipped_is_scaled_values_by_minus_one():
    result = slipped("positional_encoding", lambda c, e: [-e[0]])
    assert headline(result) == "scaled_values" and "opposite sign" in result.feedback


def test_scores_of_unit_length_queries_and_keys_are_scaled_along_by_their_lengths():
    """Cosine attention copied into a dot-product exercise: each score is the expected one divided by the lengths
    of its query and its key."""

    def cosine(c, e):
        q, k = c.tensors["q"].double(), c.tensors["k"].double()
        return [ref.qk_scores(q / q.norm(dim=-1, keepdim=True), k / k.norm(dim=-1, keepdim=True))]

    result = slipped("qk_scores", cosine)
    assert headline(result) == "scaled_along", result.feedback
    assert "divided by the length of its query's vector (|q[i]|) and of its key's (|k[j]|)" in result.feedback

    # the controls: factors for the rows and the columns that are not the lengths; a factor for every entry
    def uneven(c, e):
        s = e[0]
        rows = 1 + torch.rand(s.shape[:-1] + (1,), generator=NOISE, dtype=torch.float64)
        cols = 1 + torch.rand(s.shape[:-2] + (1, s.shape[-1]), generator=NOISE, dtype=torch.float64)
        return [s * rows * cols]

    control = slipped("qk_scores", uneven)
    assert "scaled_along" not in ids(control), control.feedback
    control = slipped("qk_scores", lambda c, e: [e[0] * (1 + torch.rand(e[0].shape, generator=NOISE))])
    assert "scaled_along" not in ids(control), control.feedback
    # each query's row alone scaled, by a factor that is no input's length: said of the rows, unnamed
    rows_only = slipped("qk_scores", lambda c, e: [e[0] * (1 + torch.arange(e[0].shape[-2]).double()).unsqueeze(-1)])
    assert headline(rows_only) == "scaled_along", rows_only.feedback
    assert "each query's values are multiplied by a factor of their own" in rows_only.feedback


def test_a_constant_added_is_offset_values():
    result = slipped("positional_encoding", lambda c, e: [e[0] + 0.5])
    assert headline(result) == "offset_values" and "the expected one plus 0.5 everywhere" in result.feedback
    control = slipped("positional_encoding", lambda c, e: [_noise(e[0] + 0.5)])
    assert "offset_values" not in ids(control)


def test_the_log_of_the_weights_is_elementwise_map():
    result = slipped("softmax_with_temperature", lambda c, e: [torch.log(e[0])])
    assert headline(result) == "elementwise_map" and "nan_output" not in ids(result)
    assert "your weights are the log of the expected values: leave out the log" in result.feedback.lower()
    control = slipped("softmax_with_temperature", lambda c, e: [_noise(torch.log(e[0].clamp_min(1e-9)))])
    assert "elementwise_map" not in ids(control)


def test_a_mask_of_0_and_minus_inf_is_mask_as_numbers_not_mask_inverted():
    def additive(c):
        if c.kind != "call":
            return checks_right(c, None)
        m = c.expected[0]
        return returns(torch.zeros(m.shape).masked_fill(~m, float("-inf")))

    result = judge("causal_mask", additive)
    assert headline(result) == "mask_as_numbers" and "mask_inverted" not in ids(result)
    assert "holds 0 where the expected mask is True and -inf where it is False" in result.feedback
    control = judge("causal_mask", lambda c: checks_right(c, lambda c: returns(torch.rand(c.expected[0].shape) - 2.0)))
    assert "mask_as_numbers" not in ids(control)


def test_a_softmax_inside_qk_scores_is_softmax_again_not_missing_scale():
    result = slipped("qk_scores", lambda c, e: [torch.softmax(e[0], dim=-1)])
    assert headline(result) == "softmax_again" and "missing_scale" not in ids(result)
    assert "a softmax of the expected scores along the keys" in result.feedback
    control = slipped("qk_scores", lambda c, e: [torch.softmax(_noise(e[0], 1.0), dim=-1)])
    assert "softmax_again" not in ids(control)


def _at_power(e: torch.Tensor, t: float) -> torch.Tensor:
    w = e.pow(t)
    return w / w.sum(-1, keepdim=True).clamp_min(1e-300)


def test_weights_at_another_temperature_are_other_temperature_named_by_the_case():
    result = slipped("multi_head_attention", lambda c, e: [e[0], _at_power(e[1], math.sqrt(c.extra["d_model"]))])
    assert headline(result) == "other_temperature"
    assert "multiplied by" in result.feedback and "= sqrt(d_model): leaving out a division" in result.feedback
    control = slipped("multi_head_attention", lambda c, e: [e[0], _noise(_at_power(e[1], 2.0)).abs()])
    assert "other_temperature" not in ids(control)


def test_weights_at_a_power_that_changes_from_case_to_case_are_not_named():
    powers = iter(torch.linspace(1.3, 2.9, 40).tolist())
    result = slipped("multi_head_attention", lambda c, e: [e[0], _at_power(e[1], next(powers))])
    assert "other_temperature" not in ids(result)


def _softmax_over_queries(c) -> torch.Tensor:
    q, k = c.tensors["q"].double(), c.tensors["k"].double()
    s = ref.qk_scores(q, k) / c.extra["T"]
    mask = c.extra["mask"]
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    m = s.amax(-2, keepdim=True).nan_to_num(0.0, neginf=0.0)
    x = torch.exp(s - m)
    return x / x.sum(-2, keepdim=True).clamp_min(1e-300)


def test_a_softmax_over_the_queries_is_normalised_elsewhere():
    result = slipped(
        "attention", lambda c, e: [_softmax_over_queries(c) @ c.tensors["v"].double(), _softmax_over_queries(c)]
    )
    assert headline(result) == "normalised_elsewhere"
    assert (
        "your weights sum to 1 over the queries, where they should sum to 1 over the keys: take the softmax along "
        "the keys (dim=-1), one query at a time"
    ) in result.feedback.lower()
    noisy = slipped("attention", lambda c, e: [e[0], _noise(_softmax_over_queries(c)).abs()])
    assert "normalised_elsewhere" not in ids(noisy)


def test_weights_summing_to_1_over_the_whole_tensor_are_rows_rescaled():
    result = slipped("softmax_with_temperature", lambda c, e: [e[0] / e[0].sum()])
    assert headline(result) == "rows_rescaled" and "sum to 1 over the whole tensor" in result.feedback
    control = slipped("softmax_with_temperature", lambda c, e: [e[0] * (1 + torch.rand(*e[0].shape[:-1], 1))])
    assert "rows_rescaled" not in ids(control)


def _unmasked(c):
    q, k, v = (c.tensors[n].double() for n in "qkv")
    out, w = ref.attention(q, k, v, None, c.extra["T"])
    return [out, w]


def test_weights_on_the_keys_the_mask_hides_are_weight_where_none():
    result = slipped("attention", lambda c, e: _unmasked(c))
    assert headline(result) == "weight_where_none"
    assert "give weight to the keys the mask hides, which should get none" in result.feedback
    control = slipped("attention", lambda c, e: [e[0], (e[1] + (e[1] == 0) * 0.3 * torch.rand(e[1].shape)).clamp(0)])
    assert "weight_where_none" not in ids(control)


def _own_call_only(c, w: torch.Tensor) -> torch.Tensor:
    """Weights (B, T, T) of a cache that masks out the keys of earlier calls: each call sees only its own tokens."""
    start, own = 0, torch.zeros(w.shape[-2:], dtype=torch.bool)
    for n in c.extra["steps"]:
        own[start : start + n, start : start + n] = True
        start += n
    kept = w * own
    return kept / kept.sum(-1, keepdim=True)


def test_uniform_weights_for_a_query_that_may_see_no_key_are_weight_where_none_on_that_query():
    """Scores filled with -1e9 rather than -inf: a query the mask hides every key from gets uniform weights."""

    def finite_fill(c, e):
        w = e[1].clone()
        dead = ~c.extra["mask"].expand_as(w).any(-1)
        w[dead] = 1.0 / w.shape[-1]
        return [e[0], w]

    dead_rows = some("attention", lambda c: c.extra.get("mask") is not None and bool((~c.extra["mask"].any(-1)).any()))
    result = slipped("attention", finite_fill, dead_rows)
    assert headline(result) == "weight_where_none", result.feedback
    assert "give weight to the keys of each query the mask hides every key from" in result.feedback

    # the control: weight on a few hidden keys of queries that may see some
    def leaks(c, e):
        w = e[1].clone()
        hidden = ~c.extra["mask"].expand_as(w) & c.extra["mask"].expand_as(w).any(-1, keepdim=True)
        w[hidden] = 0.01
        return [e[0], w / w.sum(-1, keepdim=True)]

    control = slipped("attention", leaks, dead_rows)
    assert "every key from" not in control.feedback, control.feedback


def test_no_weight_on_the_keys_of_earlier_calls_is_no_weight_where_some():
    result = slipped("kv_cache_attention", lambda c, e: [e[0], _own_call_only(c, e[1])])
    assert headline(result) == "no_weight_where_some"
    assert "give no weight to the keys of earlier calls, which should get some" in result.feedback
    control = slipped("kv_cache_attention", lambda c, e: [e[0], _noise(_own_call_only(c, e[1])).abs()])
    assert "no_weight_where_some" not in ids(control)


def test_wrong_only_on_the_odd_columns_is_region_split():
    def odd_off(c, e):
        pe = e[0].clone()
        pe[:, 1::2] = _noise(pe[:, 1::2], 0.5)
        return [pe]

    result = slipped("positional_encoding", odd_off)
    assert headline(result) == "region_split"
    assert "right on the even columns (0, 2, 4, ...) and wrong only on the odd ones" in result.feedback
    control = slipped("positional_encoding", lambda c, e: [_noise(e[0], 0.5)])
    assert "region_split" not in ids(control) and headline(control) == "wrong_values"


def test_noise_and_an_unrelated_tensor_get_no_relation_on_any_task():
    """The control for every relation at once: each task's outputs with noise, or replaced by random numbers."""
    for task in ("qk_scores", "softmax_with_temperature", "attention", "multi_head_attention", "positional_encoding"):
        for slip in (
            lambda c, e: [_noise(x) if x.dtype != torch.bool else x for x in e],
            lambda c, e: [torch.randn(x.shape, generator=NOISE, dtype=torch.float64) for x in e],
        ):
            result = slipped(task, slip)
            assert not set(ids(result)) & set(describe.IDS), (task, result.feedback)


def test_a_rule_keeps_priority_over_the_describer():
    """A mask read backwards is mask_polarity (a rule's mistake model), though the describer could say more."""

    def polarity(c, e):
        q, k, v = (c.tensors[n].double() for n in "qkv")
        mask = c.extra["mask"]
        return list(ref.attention(q, k, v, None if mask is None else ~mask, c.extra["T"])) if mask is not None else e

    result = slipped("attention", polarity)
    assert headline(result) == "mask_polarity"


def test_a_heatmap_of_the_log_weights_is_said_so():
    w = torch.softmax(torch.randn(4, 5, dtype=torch.float64), -1)
    assert describe.drawn_as(torch.log(w + 1e-9).numpy(), w.numpy(), 1e-3, "plot_attention") == (
        "your heatmap is the log of the weights: leave out the log."
    )
    assert "1.5 times the weights" in describe.drawn_as((w * 1.5).numpy(), w.numpy(), 1e-3, "plot_attention")
    assert describe.drawn_as(torch.rand(4, 5).numpy(), w.numpy(), 1e-3, "plot_attention") is None  # the control


def test_factors_are_named_by_the_simplest_quantity_that_no_other_matches():
    (c,) = [c for c in make_cases("multi_head_attention", 5, ["float32"], ["cpu"]) if c.id == "v0"]
    assert c.extra["d_model"] == 16 and c.extra["H"] == 4  # d_head = n_heads = 4: sqrt of either is 2
    names = describe.name_number(2.0, c)
    assert ("sqrt(d_head)", 2) in names and ("sqrt(n_heads)", 2) in names
    assert describe._one_name(list(names)) == ""  # two as simple: not named
    assert describe._one_name(list(describe.name_number(4.0, c))) == ""  # d_head or n_heads
    assert describe._one_name(list(describe.name_number(16.0, c))) == "d_model"
    assert describe.name_number(1.2345, c) == ()
    assert DT  # the dtypes the cases come in


def test_right_on_every_case_with_one_feature_and_wrong_on_the_others_is_case_split():
    def off_unless_last_dim(c, e):
        x = c.tensors["x"]
        return [e[0] if c.extra["dim"] % x.dim() == x.dim() - 1 else _noise(e[0])]

    result = slipped("softmax_with_temperature", off_unless_last_dim)
    assert headline(result) == "case_split"
    assert (
        "your softmax_with_temperature is right on every case where dim is the last dimension, and wrong on every "
        "case where dim is another dimension than the last"
    ) in result.feedback.lower()
    # the control: wrong on two cases that no one feature tells from the rest
    mixed = {c.id for c in make_cases("softmax_with_temperature", 5, COURSE.dtypes, ["cpu"]) if c.kind == "call"}
    chosen = sorted(mixed)[:1] + sorted(mixed)[4:5]
    control = slipped("softmax_with_temperature", lambda c, e: [_noise(e[0]) if c.id in chosen else e[0]])
    assert "case_split" not in ids(control), control.feedback


def test_an_error_on_one_kind_of_case_is_put_down_to_the_dtype_only_where_the_error_names_it():
    """Raising on every case of one rank, whose cases happen to share a dtype too, is said of the rank where the
    error names no dtype, and of the dtype where it does (torch.bmm on 2-D inputs; -1e9 in float16)."""

    def raises_unless(keep, msg):
        def answer(c):
            if c.kind != "call" or keep(c):
                return checks_right(c, right)
            return raised("RuntimeError", msg)

        return answer

    rank3 = lambda c: c.tensors["q"].dim() == 3  # noqa: E731
    result = judge("qk_scores", raises_unless(rank3, "batch1 must be a 3D tensor"))
    assert headline(result) == "case_split", result.feedback
    assert "raises an error on every case where q and k have 2 or 4 dimensions" in result.feedback
    # the control: the same cases raising about a dtype are not put down to the rank (nor is any split named,
    # since these cases also share the dtype float32 and that is not the only thing they share)
    control = judge("qk_scores", raises_unless(rank3, "expected scalar type Float but found Half"))
    assert "q and k have" not in control.feedback

    half = lambda c: c.dtype != "float16"  # noqa: E731
    result = judge("attention", raises_unless(half, "value cannot be converted to type c10::Half without overflow"))
    assert headline(result) == "case_split", result.feedback
    assert "raises an error on every case where the inputs are float16" in result.feedback
    control = judge("attention", raises_unless(half, "index 3 is out of bounds"))
    assert "case_split" not in ids(control), control.feedback  # the dtype named for an error that does not name it


def test_a_projection_used_in_place_of_another_is_the_knob_of_the_params():
    from attnlab.answers.knobs import with_params
    from attnlab.answers.tasks.multi_head_attention import _run

    result = slipped("multi_head_attention", lambda c, e: with_params(c, "W_k=W_q", _run))
    assert headline(result) == "knob"
    assert "your keys are projected with W_q, where W_k belongs" in result.feedback
    control = slipped("multi_head_attention", lambda c, e: [_noise(x) for x in with_params(c, "W_k=W_q", _run)])
    assert "knob" not in ids(control)


def test_values_never_projected_are_the_knob_of_the_params_v():
    """MultiHeadAttention that splits x itself into the heads' values, W_v left out."""
    import types

    def unprojected(c, e, W=None):
        st = dict(c.extra["state"])
        dm = st["W_v.weight"].shape[0]
        st["W_v.weight"] = torch.eye(dm) if W is None else W
        st["W_v.bias"] = torch.zeros(dm)
        return list(student_mha(types.SimpleNamespace(extra={**c.extra, "state": st})))

    result = slipped("multi_head_attention", unprojected)
    assert headline(result) == "knob", result.feedback
    assert "your values are x itself, never projected: v = self.W_v(x)" in result.feedback
    # the control: the values projected, by another matrix than W_v
    other = slipped("multi_head_attention", lambda c, e: unprojected(c, e, W=2 * torch.eye(e[0].shape[-1])))
    assert "never projected" not in other.feedback, other.feedback


def test_the_output_from_the_weights_transposed_is_the_knob_of_the_blend():
    def transposed(c, e, power=1.0):
        return [e[1].pow(power).transpose(-2, -1) @ c.tensors["v"].double(), e[1]]

    square = some("attention", lambda c: c.tensors["q"].shape[-2] == c.tensors["k"].shape[-2])
    result = slipped("attention", transposed, square)
    assert headline(result) == "knob", result.feedback
    assert "your output is weights^T @ v, the weights transposed" in result.feedback
    control = slipped("attention", lambda c, e: transposed(c, e, power=1.5), square)
    assert "weights^T" not in control.feedback, control.feedback


def test_an_output_with_the_shape_of_an_input_is_input_shape():
    """attention's output blended from the keys where v has another width: the shape of k, not (..., L, dv)."""
    result = slipped(
        "attention", lambda c, e: [torch.randn(c.tensors["k"].shape, generator=NOISE, dtype=torch.float64), e[1]]
    )
    assert headline(result) == "input_shape", result.feedback
    assert "the shape of the input k" in result.feedback
    control = slipped(
        "attention", lambda c, e: [torch.randn(*e[0].shape[:-1], e[0].shape[-1] + 1, dtype=torch.float64), e[1]]
    )
    assert "input_shape" not in ids(control) and headline(control) == "wrong_shape"


def test_a_rules_factor_is_sharpened_with_the_quantity_it_equals():
    """wrong_scale, a rule's diagnosis, keeps its words and gains the describer's name for the factor."""

    def by_sqrt_keys(c, e):
        q, k = c.tensors["q"].double(), c.tensors["k"].double()
        return [q @ k.transpose(-2, -1) / math.sqrt(k.shape[-2])]

    result = slipped(
        "qk_scores", by_sqrt_keys, some("qk_scores", lambda c: 1 < c.tensors["k"].shape[-2] != c.tensors["q"].shape[-1])
    )
    assert headline(result) == "wrong_scale"
    assert "= sqrt(d/S): dividing by sqrt(S) where sqrt(d) belongs gives exactly this" in result.feedback
    control = slipped("qk_scores", lambda c, e: [e[0] * 1.37])  # a factor no quantity of the case equals
    assert headline(control) == "wrong_scale" and "gives exactly this" not in control.feedback


@pytest.mark.parametrize("kind", ["noise", "cells", "rownorm"])
def test_random_corruption_of_any_size_names_no_relation(kind):
    """Precision before recall: values made wrong at random (noise, a random share of the cells replaced, rows of
    random weights), from barely to wholly, on every value task: the describer says nothing, where a relation,
    a region or a kind of case named by chance would mislead. (1400 such runs, at ten seeds, gave none.)"""
    g = torch.Generator().manual_seed(11)

    def corrupt(size):
        def slip(c, e):
            out = []
            for x in e:
                if x.dtype == torch.bool:
                    out.append(x ^ (torch.rand(x.shape, generator=g) < size))
                elif kind == "noise":
                    out.append(x + size * torch.randn(x.shape, generator=g, dtype=torch.float64))
                elif kind == "cells":
                    hit = torch.rand(x.shape, generator=g) < size
                    out.append(torch.where(hit, torch.randn(x.shape, generator=g, dtype=torch.float64), x))
                else:
                    r = torch.rand(x.shape, generator=g, dtype=torch.float64) + 0.01
                    out.append(r / r.sum(-1, keepdim=True))
            return out

        return slip

    tasks = ("qk_scores", "softmax_with_temperature", "causal_mask", "attention", "multi_head_attention")
    for task in tasks + ("positional_encoding", "kv_cache_attention"):
        for size in (1e-3, 0.03, 1.0):
            result = slipped(task, corrupt(size))
            assert not set(ids(result)) & set(describe.IDS), (task, size, result.feedback)


def test_entries_in_another_order_without_a_pattern_are_listed_as_index_map():
    """Columns in an order no pattern names (0 and 3 swapped): the order itself is said."""

    def swap_0_3(c, e):
        cols = list(range(e[0].shape[1]))
        if len(cols) >= 4:
            cols[0], cols[3] = cols[3], cols[0]
        return [e[0][:, cols]]

    result = slipped("positional_encoding", swap_0_3)
    assert headline(result) == "index_map"
    assert "your columns 0 and 3 hold the expected columns 3 and 0, in that order; the others are in place" in (
        result.feedback
    )
    control = slipped("positional_encoding", lambda c, e: [_noise(swap_0_3(c, e)[0])])
    assert "index_map" not in ids(control)


def _leaky(c, e):
    """A KV cache kept on the class: right on the first case, and the next ones start with its tokens."""
    first = c.id == cases_of("kv_cache_attention")[0].id
    return e if first else [_noise(x, 0.5) for x in e]


def cases_of(task: str) -> list:
    return [c for c in make_cases(task, 5, COURSE.dtypes, ["cpu"]) if c.kind in ("call", "module")]


def test_a_cache_on_the_class_that_carries_tokens_into_the_next_module_is_shared_state():
    from .fakes import changed

    def answer(c):
        return checks_right(
            c,
            lambda c: changed(
                lambda c: computed(c, *_leaky(c, [e.double() for e in c.expected])), class_state=["keys", "values"]
            )(c),
        )

    result = judge("kv_cache_attention", answer)
    assert headline(result) == "shared_state" and "wrong_values" not in ids(result)
    assert "keeps `keys` and `values` on the class, where every instance shares them" in result.feedback
    # the controls: the same containers on a module right everywhere, or wrong from its first case on
    right = judge(
        "kv_cache_attention",
        lambda c: checks_right(c, changed(lambda c: computed(c, *c.expected), class_state=["masks"])),
    )
    assert right.status == "passed" and right.score == right.max_score and not right.diagnoses
    wrong = judge(
        "kv_cache_attention",
        lambda c: checks_right(
            c, changed(lambda c: computed(c, *[_noise(e.double(), 0.5) for e in c.expected]), class_state=["keys"])
        ),
    )
    assert "shared_state" not in ids(wrong)


def test_each_querys_score_for_its_own_key_only_is_reduced_dim_to_the_diagonal():
    """(q * k).sum(-1) / sqrt(d): each query scored against the key at its own position only."""
    square = some("qk_scores", lambda c: c.tensors["q"].shape[-2] == c.tensors["k"].shape[-2])
    result = slipped("qk_scores", lambda c, e: [e[0].diagonal(dim1=-2, dim2=-1)], square)
    assert headline(result) == "reduced_dim", result.feedback
    assert "only the diagonal, each query's value for the key at its own position" in result.feedback
    # the control: another vector of that shape, the first key's score of each query, is not the diagonal
    control = slipped("qk_scores", lambda c, e: [e[0][..., 0] + 0.5], square)
    assert "diagonal" not in control.feedback, control.feedback


def test_one_heads_weights_are_reduced_dim_though_a_one_head_case_cannot_tell_which():
    """The last head's weights, shape (B, L, L): with one head, the last is also the first and the average, and that
    case must not veto what the others show."""
    result = slipped("multi_head_attention", lambda c, e: [e[0], e[1][:, -1]])
    assert headline(result) == "reduced_dim", result.feedback
    assert "are only the last head of the expected one" in result.feedback
    control = slipped("multi_head_attention", lambda c, e: [e[0], e[1][:, -1] * 0.9])
    assert "reduced_dim" not in ids(control), control.feedback


def test_a_mask_one_short_each_way_is_slice_of_a_block():
    result = slipped("causal_mask", lambda c, e: [e[0][:-1, :-1]])
    assert headline(result) == "slice_of", result.feedback
    assert "has 4 × 4 entries (queries × keys) where 5 × 5 belong, and they are a block of the expected ones" in (
        result.feedback
    )
    control = slipped(
        "causal_mask", lambda c, e: [e[0][:-1, :-1].T.contiguous() | torch.eye(e[0].shape[0] - 1, dtype=torch.bool)]
    )
    assert "slice_of" not in ids(control), control.feedback


def test_the_input_added_to_the_output_is_input_added():
    result = slipped("multi_head_attention", lambda c, e: [e[0] + c.tensors["x"].double(), e[1]])
    assert headline(result) == "input_added"
    assert "your output is the expected one plus the input x: a residual connection" in result.feedback
    control = slipped("multi_head_attention", lambda c, e: [e[0] + _noise(c.tensors["x"].double(), 0.3), e[1]])
    assert "input_added" not in ids(control)


def test_weights_in_proportion_that_do_not_sum_to_1_are_rows_off_sum():
    def short_of_1(c, e):  # each row a little short of 1, by its own amount (an epsilon in the denominator)
        dim = c.extra["dim"]
        return [e[0] * (0.8 + 0.1 * torch.rand(e[0].sum(dim, keepdim=True).shape, generator=NOISE))]

    result = slipped("softmax_with_temperature", short_of_1)
    assert headline(result) == "rows_off_sum", result.feedback
    assert "but each slice along it sums to between 0.8" in result.feedback
    control = slipped(
        "softmax_with_temperature", lambda c, e: [e[0] * (0.8 + 0.4 * torch.rand(e[0].shape, generator=NOISE))]
    )
    assert "rows_off_sum" not in ids(control)


def test_slices_that_add_up_to_1_on_one_case_by_chance_are_not_rows_rescaled():
    """Rows scaled by factors of their own that happen to add up to 1 over the whole tensor on one case: the
    slices are off 1 on every case (rows_off_sum); a total of 1 seen once is chance (on every case: the control)."""
    first = []

    def off(c, e, always=False):
        dim = c.extra["dim"]
        f = 0.2 + torch.rand(e[0].sum(dim, keepdim=True).shape, generator=NOISE, dtype=torch.float64)
        if always or not first:
            first.append(c.id)
            f = f / (e[0] * f).sum()
        return [e[0] * f]

    result = slipped("softmax_with_temperature", off)
    assert headline(result) == "rows_off_sum", result.feedback
    control = slipped("softmax_with_temperature", lambda c, e: off(c, e, always=True))
    assert headline(control) == "rows_rescaled", control.feedback


def test_an_epsilon_in_the_denominator_is_rows_off_sum_though_within_the_loose_tolerance():
    """1e-6 added to a softmax's denominator fails float64's grading tolerance, not the describer's loose one: the
    describer looks at what is wrong as graded, and says the sums a hair under 1 without rounding them to 1."""

    def eps(c, e):
        dim = c.extra["dim"]
        return [e[0] * (1 / (1 + 1e-6 / e[0].sum(dim, keepdim=True)))]

    wide = some("softmax_with_temperature", lambda c: c.dtype == "float64")
    result = slipped("softmax_with_temperature", eps, wide)
    assert headline(result) == "rows_off_sum", result.feedback
    assert "sums to 1 - 1e-06, not 1" in result.feedback, result.feedback
    # the control: as tiny an error that is not in proportion along the rows
    control = slipped("softmax_with_temperature", lambda c, e: [_noise(e[0], 1e-6)], wide)
    assert not set(ids(control)) & set(describe.IDS), control.feedback


def test_a_mask_that_hides_the_keys_far_back_is_a_region_split_of_a_window():
    window = some("causal_mask", lambda c: c.extra["n"] > 4)
    result = slipped("causal_mask", lambda c, e: [e[0] & ~torch.ones_like(e[0]).tril(-4)], window)
    assert headline(result) == "region_split"
    assert "right on the other keys and wrong only on the keys more than 3 before each query" in result.feedback


def test_a_describer_that_fails_never_costs_the_grade(monkeypatch):
    """The judge keeps a task's score and diagnoses where the describer raises; with ATTNLAB_STRICT_DESCRIBE (which
    the suite sets) it raises instead, so that a crash fails a test rather than hiding."""
    from attnlab.judging import judge as judge_module

    def broken(task_id, results):
        raise RuntimeError("a bug in the describer")

    monkeypatch.setattr(judge_module, "describe", broken)
    monkeypatch.delenv("ATTNLAB_STRICT_DESCRIBE", raising=False)
    result = slipped("positional_encoding", lambda c, e: [_noise(e[0], 0.5)])
    assert headline(result) == "wrong_values" and result.score == 0.0
    monkeypatch.setenv("ATTNLAB_STRICT_DESCRIBE", "1")
    with pytest.raises(RuntimeError, match="a bug in the describer"):
        slipped("positional_encoding", lambda c, e: [_noise(e[0], 0.5)])


def test_an_output_of_nan_everywhere_is_left_to_nan_output():
    """No relation of values can be read off NaN: the describer says nothing, and does not fail on it."""
    result = slipped("attention", lambda c, e: [torch.full_like(e[0], float("nan")), e[1]])
    assert "nan_output" in ids(result) and not set(ids(result)) & set(describe.IDS)
