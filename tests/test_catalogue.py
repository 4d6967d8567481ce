"""The diagnosis catalogue against the project's own mistakes, and valid variants against full marks.

Every file in submissions/mistakes/ holds one mistake. Graded through the real child process, its task
must lose points and name the mistake; every task it does not touch keeps full marks (a caller that
only inherits the mistake through a call is not charged). Every valid variant gets full marks.
"""

from __future__ import annotations

import pytest
import torch
from attnlab.judging.diagnose import CATALOGUE
from conftest import SUBMISSIONS, build, expectation, task_of

MISTAKES = sorted((SUBMISSIONS / "mistakes").glob("*.py"))
VARIANTS = sorted((SUBMISSIONS / "variants").glob("*.py"))
MAX_TOTAL = 125.0  # lessons 1 to 4: 100 points; lesson 5: 25
REQUIRED = {
    "qk_scores": ["missing_scale", "wrong_scale", "wrong_transpose"],
    "softmax_with_temperature": [
        "wrong_dim",
        "temperature_inverted",
        "temperature_ignored",
        "unstable_softmax",
        "accepts_invalid_temperature",
        "fully_masked_row_nan",
    ],
    "causal_mask": ["mask_inverted", "mask_diagonal_excluded"],
    "attention": ["mask_after_softmax", "mask_fill_zero", "mask_polarity", "no_gradient"],
    "multi_head_attention": [
        "heads_split_without_transpose",
        "missing_output_projection",
        "scale_by_d_model",
        "weights_averaged",
    ],
    "plot_attention": ["plot_wrong_data", "plot_missing_labels", "plot_missing_colorbar"],
    "positional_encoding": ["pe_sin_cos_swapped", "pe_wrong_base", "pe_transposed"],
    "kv_cache_attention": ["cache_attend_before_append", "cache_sees_future", "cache_recomputes"],
    "*": [
        "wrong_shape",
        "wrong_dtype",
        "wrong_device",
        "mutates_input",
        "non_tensor_output",
        "nan_output",
        "forbidden_call",
        "not_implemented",
        "exception",
        "timeout",
        "constant_output",
    ],
}
# A mistake that breaks a callee may also cost the callers that call it where the two cannot be told
# apart (the caller could not even run). Everything else must keep full marks.
MAY_ALSO_COST = {"attention", "multi_head_attention", "kv_cache_attention"}


def test_catalogue_has_every_required_id():
    for task, ids in REQUIRED.items():
        for i in ids:
            assert i in CATALOGUE, i
            assert CATALOGUE[i][0] == task, f"{i} belongs to {CATALOGUE[i][0]}, not {task}"


def test_every_mistake_model_stands_for_an_id_of_its_task():
    """The diagnosis rules compare with mistake models (attnlab.answers), named by the id they prove;
    the student build precomputes every one that `applicable` lists, on every public case."""
    from attnlab.course import load_course
    from attnlab.judging.cases import answers, make_cases

    models, course = answers(), load_course()
    seen = set()
    for task in course.tasks:
        for case in make_cases(task.id, course.public_seed, course.dtypes, course.devices):
            for name in models.applicable(case):
                if name.startswith("knob:"):  # the describer's (test_knob_models_are_the_knobs_the_spec_declares)
                    continue
                did = name.split(":")[0]
                assert CATALOGUE[did][0] == task.id, name
                assert models.mistake(name, case).shape in [e.shape for e in case.expected], (case.id, name)
                seen.add(did)
    assert len(seen) == 15 and seen <= {i for ids in REQUIRED.values() for i in ids}
    with pytest.raises(KeyError, match="list it in the task module's mistake_models"):
        models.mistake("mask_polarity", make_cases("qk_scores", 1, ["float32"], ["cpu"])[0])


def test_knob_models_are_the_knobs_the_spec_declares():
    """Each knob model ("knob:NAME=VALUE", attnlab.answers.knobs) is a choice of a knob in its task's spec, computes
    an output of the shape the knob's output may take, and turns the reference somewhere: on some case it differs."""
    from attnlab.course import load_course
    from attnlab.judging.cases import answers, make_cases
    from attnlab.tasks import TASKS

    models, course = answers(), load_course()
    differs = set()
    for task in course.tasks:
        declared = {f"knob:{k.name}={v}": k for k in TASKS[task.id].knobs for v, _ in k.choices}
        for case in make_cases(task.id, course.public_seed, course.dtypes, course.devices):
            for name in (n for n in models.applicable(case) if n.startswith("knob:")):
                assert name in declared, name
                out = models.mistake(name, case)
                expected = case.expected[declared[name].output]
                assert out.dim() == expected.dim() and out.dtype == (
                    torch.bool if expected.dtype == torch.bool else torch.float64
                )
                if out.shape != expected.shape or not torch.allclose(out.double(), expected.double()):
                    differs.add(name)
    assert differs == {n for t in TASKS.values() for k in t.knobs for n in (f"knob:{k.name}={v}" for v, _ in k.choices)}


def test_there_is_one_mistake_file_per_required_id():
    have = {p.stem for p in MISTAKES}
    missing = [i for ids in REQUIRED.values() for i in ids if i not in have]
    assert not missing


# The sweep through the real grader, one submission per file (tests/unit/ makes every id from made-up replies).
@pytest.mark.slow
@pytest.mark.parametrize("path", MISTAKES, ids=[p.stem for p in MISTAKES])
def test_mistake_is_caught_and_named(path, grade, tmp_path):
    task_id, diag = expectation(path)
    result = grade(build(path, tmp_path))
    task = task_of(result, task_id)
    assert task["score"] < task["max_score"], f"{diag} was not caught: {task}"
    assert diag in task["diagnoses"], f"{diag} not named: {task['diagnoses']} / {task['feedback']}"
    assert task["feedback"].strip()
    callers_of = {"qk_scores", "softmax_with_temperature", "causal_mask", "attention"}  # their callers: below
    for other in result["tasks"]:
        if other["id"] == task_id:
            continue
        if task_id in callers_of and other["id"] in MAY_ALSO_COST:
            if other["score"] < other["max_score"]:
                # Charged only where the callee stopped the caller from running, and said so.
                assert {"blocked_by_callee", "timeout"} & set(other["diagnoses"]), other
            continue
        assert other["score"] == other["max_score"], f"{other['id']} lost points for {diag}: {other}"


def test_placeholders_score_nothing_and_are_named(grade):
    """Zeros of the right shape, dtype and device from every function, and a blank heatmap: 0 points, even
    for the cases that check only devices, and every task says it is a placeholder before anything else."""
    result = grade(SUBMISSIONS / "all_zeros.py")
    assert result["total"] == 0.0, [(t["id"], t["score"]) for t in result["tasks"]]
    for task in result["tasks"]:
        assert task["diagnoses"][0] == "constant_output", task
        assert not {"wrong_scale", "missing_scale", "wrong_values", "plot_wrong_data"} & set(task["diagnoses"]), task
        meta = [c for c in task["cases"] if c["id"] == "meta"]
        assert all(c["status"] == "failed" and "values are right" in c["detail"] for c in meta), meta


@pytest.mark.slow
@pytest.mark.parametrize("path", VARIANTS, ids=[p.stem for p in VARIANTS])
def test_valid_variant_gets_full_marks(path, grade, tmp_path):
    """A variant replaces some of base.py's functions (written another valid way): every task keeps full marks."""
    result = grade(build(path, tmp_path))
    bad = [(t["id"], t["status"], t["feedback"]) for t in result["tasks"] if t["score"] != t["max_score"]]
    assert not bad
    assert result["total"] == result["max_total"] == MAX_TOTAL


def test_base_and_reference_get_full_marks(grade):
    from attnlab import reference

    for path in (SUBMISSIONS / "base.py", str(reference.SOURCE)):
        result = grade(path)
        assert result["total"] == result["max_total"] == MAX_TOTAL, [(t["id"], t["feedback"]) for t in result["tasks"]]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reference_full_marks_on_any_seed(grade, seed):
    from attnlab import reference

    result = grade(str(reference.SOURCE), seed=seed)
    assert result["total"] == MAX_TOTAL, [(t["id"], t["feedback"]) for t in result["tasks"] if t["status"] != "passed"]
