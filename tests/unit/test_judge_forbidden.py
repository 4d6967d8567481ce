"""judge: the canary (right values no detector watched score 0) and whose forbidden call it is (made-up replies)."""

from __future__ import annotations

import pytest
from attnlab.judging.excuses import trace_gap
from attnlab.judging.judge import judge_task
from attnlab.judging.scan import Finding, defined_as

from .fakes import COURSE, cases, checks_right, judge, right


def _traced(trace):
    """Right values, with `trace` as what the worker's dispatch layer reported (None: no trace at all)."""

    def answer(case):
        meta, tensors = right(case)
        if trace is None:
            del meta["trace"]
        else:
            meta["trace"] = trace
        return meta, tensors

    return lambda c: checks_right(c, answer)


# ------------------------------------------------------------------------------------------- the canary


@pytest.mark.parametrize(
    "trace",
    [
        None,
        {},
        {"ops": [], "dispatch": 0, "function": 0},
        "nothing",
        {"ops": ["div"], "dispatch": 3, "function": 2},  # no matrix product
        {"ops": ["mm"], "dispatch": 3, "function": 0},
    ],
)  # the function layer saw nothing
def test_right_values_that_no_detector_watched_score_nothing(trace):
    result = judge("qk_scores", _traced(trace))
    assert result.score == 0.0 and result.status == "forbidden"
    assert result.diagnoses[0].id == "detector_tampered"
    assert "could not watch how your code computed them" in result.feedback


@pytest.mark.parametrize(
    "task_id, ops",
    [
        ("qk_scores", ["div", "mm", "transpose"]),
        ("qk_scores", ["mul", "unsqueeze", "view"]),  # einsum over a dimension of size 1
        ("softmax_with_temperature", ["div", "exp", "max", "sub", "sum"]),
        ("softmax_with_temperature", ["logsumexp", "sub", "exp_"]),
        ("causal_mask", ["ones", "tril"]),
        ("attention", ["bmm", "exp", "masked_fill"]),
        ("multi_head_attention", ["addmm", "bmm", "exp", "view"]),
    ],
)
def test_right_values_with_a_plausible_trace_pass(task_id, ops):
    result = judge(task_id, _traced({"ops": ops, "dispatch": 3 * len(ops), "function": len(ops)}))
    assert result.status == "passed" and result.score == COURSE.task(task_id).points, result.feedback


def test_wrong_values_without_a_trace_get_the_ordinary_diagnosis():
    def doubled(case):
        meta, tensors = right(case)
        tensors["out.0"] = 2 * tensors["out.0"]
        meta["trace"] = {}
        return meta, tensors

    result = judge("qk_scores", lambda c: checks_right(c, doubled))
    ids = [d.id for d in result.diagnoses]
    assert "wrong_scale" in ids and "detector_tampered" not in ids
    assert result.status != "forbidden"


def test_a_plot_and_the_checks_without_values_need_no_trace():
    assert trace_gap("plot_attention", None) == ""
    result = judge("causal_mask", _traced({"ops": ["tril"], "dispatch": 1, "function": 1}))
    assert result.status == "passed"


# ------------------------------------------------------------------------ whose forbidden call it is


def _attention(callee_forbidden=None, findings=None, status=None, contract=None):
    def answer(case):
        meta, tensors = right(case)
        meta["callee_forbidden"] = callee_forbidden or {}
        return meta, tensors

    the_cases = cases("attention")
    replies, tensors = {}, {}
    for c in the_cases:
        replies[c.id], tensors[c.id] = checks_right(c, answer)
    return judge_task(
        COURSE.task("attention"),
        the_cases,
        replies,
        tensors,
        COURSE,
        findings=findings,
        callee_status=status,
        contract=contract,
    )


SEEN = {"softmax_with_temperature": ["aten._softmax", "softmax"]}
SCANNED = [Finding("softmax", 7, "return torch.softmax(x, dim)", "softmax_with_temperature")]
CALLEE = "softmax_with_temperature"


@pytest.mark.parametrize("seen, findings", [(SEEN, None), (None, SCANNED)], ids=["at run time", "in the source"])
def test_a_graded_callee_with_the_contract_that_scored_0_answers_for_its_call(seen, findings):
    result = _attention(seen, findings, status={CALLEE: "forbidden"}, contract={CALLEE})
    assert result.status == "passed" and result.score == COURSE.task("attention").points, result.feedback


@pytest.mark.parametrize(
    "status, contract, why",
    [
        ({}, {CALLEE}, "not graded in this run"),
        ({CALLEE: "forbidden"}, set(), "defined with a signature of its own"),
        ({CALLEE: "passed"}, {CALLEE}, "not scored 0 for it"),
        ({CALLEE: "partial"}, {CALLEE}, "scored, but not 0 for it"),
    ],
)
@pytest.mark.parametrize("seen, findings", [(SEEN, None), (None, SCANNED)], ids=["at run time", "in the source"])
def test_otherwise_the_caller_answers_for_it(seen, findings, status, contract, why):
    result = _attention(seen, findings, status=status, contract=contract)
    assert result.score == 0.0 and result.status == "forbidden", why
    assert result.diagnoses[0].id == "forbidden_call"
    assert CALLEE in result.feedback


def test_what_runs_at_load_no_callee_answers_for():
    findings = [Finding("evasion:sys.modules", 3, "sys.modules['x'] = None", "")]
    result = _attention(None, findings, status={CALLEE: "forbidden"}, contract={CALLEE})
    assert result.status == "forbidden"


def test_the_contract_is_the_definition_s_positional_parameters():
    cells = [
        "def attention(x, module, causal):\n    pass\n",
        "def qk_scores(q, k, /):\n    pass\n"
        "class MultiHeadAttention:\n    def __init__(self, d_model, n_heads, bias=True):\n        pass\n",
    ]
    assert not defined_as(cells, "attention", ["q", "k", "v", "mask", "temperature"])
    assert defined_as(cells, "qk_scores", ["q", "k"])
    assert defined_as(cells, "MultiHeadAttention", ["d_model", "n_heads", "bias"])
    assert not defined_as(cells, "causal_mask", ["seq_len", "device"])
    # The last definition is the one that counts, as when the cells run.
    assert defined_as(
        cells + ["def attention(q, k, v, mask=None, temperature=1.0):\n    pass\n"],
        "attention",
        ["q", "k", "v", "mask", "temperature"],
    )
