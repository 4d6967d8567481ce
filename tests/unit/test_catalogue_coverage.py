"""Every diagnosis in the catalogue is produced by a unit test from made-up replies.

`PRODUCED_BY` names, for each catalogue id, the unit test that produces it and asserts it. A new id in
``attnlab.judging.diagnose.CATALOGUE`` fails here until it has such a test; a test named here must exist,
must not be skipped or expected to fail, and must assert the id (the id appears in one of its asserts).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap

import pytest
from attnlab.judging.diagnose import CATALOGUE

RULES = "test_diagnosis_rules"
DESCRIBE = "test_describe"

#: catalogue id -> "module::test" (the module under tests/unit) that produces it from made-up replies.
PRODUCED_BY: dict[str, str] = {
    # qk_scores
    "missing_scale": f"{RULES}::test_scores_without_the_division_by_sqrt_d_are_missing_scale",
    "wrong_scale": f"{RULES}::test_scores_divided_by_d_are_wrong_scale_and_say_so",
    "wrong_transpose": f"{RULES}::test_scores_as_keys_by_queries_are_wrong_transpose_not_wrong_shape",
    # softmax_with_temperature
    "wrong_dim": f"{RULES}::test_a_softmax_that_is_always_over_the_last_dim_is_wrong_dim",
    "temperature_inverted": f"{RULES}::test_multiplying_by_the_temperature_is_temperature_inverted",
    "temperature_ignored": f"{RULES}::test_a_temperature_left_out_is_temperature_ignored",
    "unstable_softmax": f"{RULES}::test_exp_without_subtracting_the_maximum_is_unstable_softmax_not_nan_output",
    "accepts_invalid_temperature": f"{RULES}::test_returning_for_a_bad_temperature_is_accepts_invalid_temperature",
    "fully_masked_row_nan": f"{RULES}::test_nan_on_a_row_that_is_entirely_minus_inf_is_fully_masked_row_nan",
    # causal_mask
    "mask_inverted": f"{RULES}::test_a_mask_of_the_future_is_mask_inverted",
    "mask_diagonal_excluded": f"{RULES}::test_a_mask_without_its_diagonal_is_mask_diagonal_excluded",
    "accepts_invalid_length": f"{RULES}::test_a_seq_len_below_1_that_returns_a_mask_is_accepts_invalid_length",
    # attention
    "mask_after_softmax": f"{RULES}::test_weights_times_the_mask_after_the_softmax_are_mask_after_softmax",
    "mask_fill_zero": f"{RULES}::test_hidden_scores_set_to_zero_are_mask_fill_zero",
    "mask_polarity": f"{RULES}::test_hiding_the_keys_the_mask_allows_is_mask_polarity",
    "no_gradient": f"{RULES}::test_right_values_without_a_graph_are_no_gradient",
    # multi_head_attention
    "heads_split_without_transpose": f"{RULES}::test_heads_split_by_a_plain_view_are_heads_split_without_transpose",
    "missing_output_projection": f"{RULES}::test_no_w_o_at_the_end_is_missing_output_projection",
    "scale_by_d_model": f"{RULES}::test_scores_scaled_by_d_model_are_scale_by_d_model",
    "weights_averaged": f"{RULES}::test_weights_averaged_over_heads_are_weights_averaged_not_wrong_shape",
    # plot_attention
    "plot_wrong_data": f"{RULES}::test_a_heatmap_of_other_numbers_is_plot_wrong_data",
    "plot_missing_labels": f"{RULES}::test_a_heatmap_without_tick_labels_is_plot_missing_labels",
    "plot_missing_colorbar": f"{RULES}::test_a_heatmap_without_a_colorbar_is_plot_missing_colorbar",
    # positional_encoding
    "pe_sin_cos_swapped": f"{RULES}::test_cos_in_the_even_columns_is_pe_sin_cos_swapped",
    "pe_wrong_base": f"{RULES}::test_the_pair_index_without_its_2_is_pe_wrong_base_100",
    "pe_transposed": f"{RULES}::test_features_by_positions_is_pe_transposed_not_wrong_shape",
    # kv_cache_attention
    "cache_attend_before_append": f"{RULES}::test_attending_before_appending_is_cache_attend_before_append",
    "cache_sees_future": f"{RULES}::test_a_prompt_without_its_mask_is_cache_sees_future",
    "cache_recomputes": f"{RULES}::test_keys_projected_again_at_every_call_are_cache_recomputes",
    # any task
    "wrong_shape": f"{RULES}::test_an_extra_dimension_is_wrong_shape",
    "wrong_dtype": f"{RULES}::test_float64_outputs_for_float32_inputs_are_wrong_dtype",
    "wrong_device": f"{RULES}::test_an_output_on_another_device_is_wrong_device",
    "mutates_input": f"{RULES}::test_an_input_changed_in_place_is_mutates_input",
    "non_tensor_output": f"{RULES}::test_a_list_returned_for_a_tensor_is_non_tensor_output",
    "nan_output": f"{RULES}::test_nan_where_the_expected_scores_are_finite_is_nan_output",
    "forbidden_call": f"{RULES}::test_a_forbidden_call_is_forbidden_call",
    "detector_tampered": f"{RULES}::test_right_values_with_no_trace_are_detector_tampered",
    "not_implemented": f"{RULES}::test_a_stub_is_not_implemented",
    "exception": f"{RULES}::test_an_unknown_exception_is_exception",
    "timeout": f"{RULES}::test_a_timeout_is_timeout",
    "wrong_values": f"{RULES}::test_values_off_in_no_known_way_are_wrong_values",
    "crashed": f"{RULES}::test_a_crash_is_crashed",
    "missing": f"{RULES}::test_no_function_at_all_is_missing",
    "callee_failed": f"{RULES}::test_a_caller_right_but_for_its_wrong_callee_is_callee_failed",
    "blocked_by_callee": f"{RULES}::test_a_callee_that_raised_inside_the_caller_is_blocked_by_callee",
    "gradient_mismatch": f"{RULES}::test_a_wrong_gradient_with_right_values_is_gradient_mismatch",
    "constant_output": f"{RULES}::test_zeros_everywhere_are_constant_output",
    "shared_state": f"{DESCRIBE}::test_a_cache_on_the_class_that_carries_tokens_into_the_next_module_is_shared_state",
    # the describer
    "knob": f"{DESCRIBE}::test_q_where_k_belongs_is_the_knob_of_qk_scores_args",
    "outputs_swapped": f"{DESCRIBE}::test_outputs_in_the_other_order_are_outputs_swapped",
    "extra_dims": f"{DESCRIBE}::test_extra_dimensions_of_size_1_are_extra_dims",
    "dims_reordered": f"{DESCRIBE}::test_heads_and_queries_swapped_are_dims_reordered",
    "reduced_dim": f"{DESCRIBE}::test_scores_summed_over_the_batch_are_reduced_dim",
    "input_shape": f"{DESCRIBE}::test_an_output_with_the_shape_of_an_input_is_input_shape",
    "precision_only": f"{DESCRIBE}::test_wrong_only_in_half_precision_is_precision_only",
    "index_map": f"{DESCRIBE}::test_positions_counted_from_1_are_index_map",
    "scaled_values": f"{DESCRIBE}::test_a_factor_named_by_the_case_is_scaled_values",
    "offset_values": f"{DESCRIBE}::test_a_constant_added_is_offset_values",
    "input_added": f"{DESCRIBE}::test_the_input_added_to_the_output_is_input_added",
    "rows_off_sum": f"{DESCRIBE}::test_weights_in_proportion_that_do_not_sum_to_1_are_rows_off_sum",
    "elementwise_map": f"{DESCRIBE}::test_the_log_of_the_weights_is_elementwise_map",
    "mask_as_numbers": f"{DESCRIBE}::test_a_mask_of_0_and_minus_inf_is_mask_as_numbers_not_mask_inverted",
    "softmax_again": f"{DESCRIBE}::test_a_softmax_inside_qk_scores_is_softmax_again_not_missing_scale",
    "other_temperature": f"{DESCRIBE}::test_weights_at_another_temperature_are_other_temperature_named_by_the_case",
    "normalised_elsewhere": f"{DESCRIBE}::test_a_softmax_over_the_queries_is_normalised_elsewhere",
    "rows_rescaled": f"{DESCRIBE}::test_weights_summing_to_1_over_the_whole_tensor_are_rows_rescaled",
    "weight_where_none": f"{DESCRIBE}::test_weights_on_the_keys_the_mask_hides_are_weight_where_none",
    "no_weight_where_some": f"{DESCRIBE}::test_no_weight_on_the_keys_of_earlier_calls_is_no_weight_where_some",
    "region_split": f"{DESCRIBE}::test_wrong_only_on_the_odd_columns_is_region_split",
    "case_split": f"{DESCRIBE}::test_right_on_every_case_with_one_feature_and_wrong_on_the_others_is_case_split",
    "scaled_along": f"{DESCRIBE}::test_scores_of_unit_length_queries_and_keys_are_scaled_along_by_their_lengths",
    "slice_of": f"{DESCRIBE}::test_a_mask_not_cut_to_length_and_the_earlier_calls_kept_are_slice_of",
    "written_elsewhere": f"{DESCRIBE}::test_values_written_into_the_next_columns_over_them_are_written_elsewhere",
}


def _test_function(where: str):
    module, name = where.split("::")
    return getattr(importlib.import_module(f"{__package__}.{module}"), name, None)


def _asserted_strings(fn) -> set[str]:
    """Every string constant inside the assert statements of `fn`."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    return {
        node.value
        for a in ast.walk(tree)
        if isinstance(a, ast.Assert)
        for node in ast.walk(a)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_every_catalogue_id_has_a_unit_test_and_every_unit_test_named_is_for_a_catalogue_id():
    missing = sorted(set(CATALOGUE) - set(PRODUCED_BY))
    unknown = sorted(set(PRODUCED_BY) - set(CATALOGUE))
    assert not missing, f"catalogue ids without a unit test that produces them: {missing}"
    assert not unknown, f"PRODUCED_BY names ids the catalogue no longer has: {unknown}"


@pytest.mark.parametrize("did", sorted(PRODUCED_BY))
def test_the_unit_test_named_for_an_id_exists_runs_and_asserts_that_id(did):
    fn = _test_function(PRODUCED_BY[did])
    assert fn is not None and fn.__name__.startswith("test_"), f"{PRODUCED_BY[did]} is not a test"
    marks = {m.name for m in getattr(fn, "pytestmark", [])}
    assert not marks & {"skip", "skipif", "xfail"}, f"{PRODUCED_BY[did]} does not run as a plain test"
    assert did in _asserted_strings(fn), f"{PRODUCED_BY[did]} never asserts {did!r}"


def test_the_check_tells_an_assert_from_a_mere_mention():
    def asserts(result):
        assert result == ["wrong_dim"]

    def mentions(result):
        label = "wrong_dim"
        assert result == [label]

    assert "wrong_dim" in _asserted_strings(asserts)
    assert "wrong_dim" not in _asserted_strings(mentions)
