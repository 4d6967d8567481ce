"""Forbidden calls, in all three layers, and the evasions that would blind them."""

from __future__ import annotations

import pytest
from attnlab.judging.patterns import runtime_patterns
from attnlab.judging.scan import scan_source
from conftest import task_of

DEFAULT = [
    "softmax",
    "log_softmax",
    "scaled_dot_product_attention",
    "MultiheadAttention",
    "multi_head_attention_forward",
]


@pytest.mark.parametrize(
    "line",
    [
        "torch.softmax(x, -1)",
        "F.softmax(x, dim=-1)",
        "x.softmax(-1)",
        "torch.special.log_softmax(x, 0)",
        "torch.nn.functional.scaled_dot_product_attention(q, k, v)",
        "torch.nn.MultiheadAttention(8, 2)",
        "getattr(torch, 'softmax')(x, -1)",
    ],
)
def test_source_scan_flags_every_spelling(line):
    header = "import torch\nimport torch.nn.functional as F\ndef softmax_with_temperature(x, t=1.0, dim=-1):\n"
    src = f"{header}    return {line}\n"
    found = scan_source([src], DEFAULT)
    assert found.get("softmax_with_temperature"), line


def test_source_scan_follows_imported_aliases_and_spares_own_helpers():
    src = (
        "from torch.nn.functional import softmax as sm\n"
        "def softmax(x):\n    e = x.exp()\n    return e / e.sum(-1, keepdim=True)\n"
        "def softmax_with_temperature(x, t=1.0, dim=-1):\n    return softmax(x / t)\n"
        "def attention(q, k, v, mask=None, temperature=1.0):\n    return sm(q, -1), None\n"
    )
    found = scan_source([src], DEFAULT)
    assert "softmax_with_temperature" not in found
    assert [f.name for f in found["attention"]] == ["softmax"]


@pytest.mark.parametrize(
    "line",
    [
        "torch._C.DisableTorchFunction()",
        "torch.overrides._pop_mode()",
        "torch.utils._python_dispatch._get_current_dispatch_mode_stack()",
    ],
)
def test_source_scan_flags_evasions(line):
    found = scan_source([f"import torch\ndef qk_scores(q, k):\n    {line}\n    return q\n"], DEFAULT)
    assert any(f.evasion for f in found["qk_scores"])


def test_runtime_patterns_cover_function_and_aten_names():
    import re

    p = runtime_patterns(DEFAULT)
    for name in [
        "softmax",
        "special_log_softmax",
        "log_softmax",
        "scaled_dot_product_attention",
        "multi_head_attention_forward",
    ]:
        assert re.search(p["function"], name), name
    for name in [
        "_softmax",
        "_log_softmax",
        "_safe_softmax",
        "_scaled_dot_product_flash_attention_for_cpu",
        "_native_multi_head_attention",
    ]:
        assert re.search(p["aten"], name), name
    for name in ["exp", "logsumexp", "amax", "masked_fill", "matmul", "my_softmaxish", "softmax_with_temperature"]:
        assert not re.search(p["function"], name), name
    for name in ["exp", "logsumexp", "amax", "masked_fill", "bmm", "mm", "addmm", "sum", "div", "sub", "max"]:
        assert not re.search(p["aten"], name), name


HIDDEN = {
    # Reached through names built from pieces. The scan reads these now; switched off, the runtime layers see them.
    "dynamic_name": (
        "import torch\n_n = 'soft' + 'max'\n"
        "def softmax_with_temperature(scores, temperature=1.0, dim=-1):\n"
        "    return getattr(torch, _n)(scores / temperature, dim=dim)\n"
    ),
    # The function layer switched off by a module-level alias the scan does not know: the dispatcher still sees it.
    "function_layer_off": (
        "import torch\n_off = getattr(torch, '_' + 'C').DisableTorchFunction\n_n = 'soft' + 'max'\n"
        "def softmax_with_temperature(scores, temperature=1.0, dim=-1):\n"
        "    with _off():\n"
        "        return getattr(torch, _n)(scores / temperature, dim=dim)\n"
    ),
}


@pytest.mark.parametrize("name", sorted(HIDDEN))
def test_the_scan_reads_names_built_from_pieces(name):
    found = scan_source([HIDDEN[name]], DEFAULT)
    assert [f.name for f in found["softmax_with_temperature"]] == ["softmax"]


@pytest.mark.parametrize("name", sorted(HIDDEN))
def test_runtime_layers_catch_what_the_scan_does_not(name, grade, tmp_path, monkeypatch):
    import attnlab.running.grade

    monkeypatch.setattr(attnlab.running.grade, "scan_source", lambda cells, forbidden: {})
    path = tmp_path / f"{name}.py"
    path.write_text(HIDDEN[name])
    result = grade(path, tasks=["softmax_with_temperature"])
    task = task_of(result, "softmax_with_temperature")
    assert task["status"] == "forbidden" and task["score"] == 0.0, task
    assert "forbidden_call" in task["diagnoses"]


def test_course_can_allow_a_call_per_task(course, zygote, tmp_path):
    from attnlab.running.grade import grade_paths

    path = tmp_path / "uses_softmax.py"
    path.write_text(
        "import torch\ndef softmax_with_temperature(scores, temperature=1.0, dim=-1):\n"
        "    if not (temperature > 0 and temperature < float('inf')):\n        raise ValueError('temperature')\n"
        "    return torch.softmax(scores / temperature, dim=dim).nan_to_num(0.0)\n"
    )
    tasks = [t.model_copy(update={"forbidden": []}) if t.id == "softmax_with_temperature" else t for t in course.tasks]
    relaxed = course.model_copy(update={"tasks": tasks})
    (result,) = grade_paths([path], course=relaxed, seed=1, task_ids=["softmax_with_temperature"], zygote=zygote)
    assert task_of(result, "softmax_with_temperature")["status"] != "forbidden"
