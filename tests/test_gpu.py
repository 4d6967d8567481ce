"""The same checks on a GPU. Where there is none, each test is reported as pending, never dropped."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from attnlab import reference as ref

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_reference_attention_matches_sdpa_on_cuda(dtype):
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 8, generator=g, device="cuda", dtype=dtype) for _ in range(3))
    mask = ref.causal_mask(5, device="cuda")
    out, w = ref.attention(q, k, v, mask)
    assert out.device.type == "cuda" and w.device.type == "cuda" and out.dtype == dtype
    expected = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), attn_mask=mask)
    atol, rtol = {torch.float32: (1e-5, 1.3e-6), torch.float16: (5e-3, 1e-3), torch.bfloat16: (3e-2, 1.6e-2)}[dtype]
    assert ((out.double() - expected).abs() <= atol + rtol * expected.abs()).all()


def test_causal_mask_is_made_on_cuda():
    assert ref.causal_mask(4, device="cuda").device.type == "cuda"


@pytest.fixture(scope="module")
def grade_with_course_limits(zygote):
    """conftest's `grade`, with the course's own time limits rather than the suite's short ones: a worker's
    first CUDA op starts the driver, which takes seconds on some machines."""
    from attnlab.course import load_course
    from attnlab.running.grade import grade_paths

    course = load_course()

    def run(path, tasks=None, seed=11):
        (result,) = grade_paths([path], course=course, seed=seed, task_ids=tasks, zygote=zygote)
        return result

    return run


def test_grader_runs_cuda_cases(grade_with_course_limits):
    result = grade_with_course_limits(ref.SOURCE, tasks=["qk_scores", "attention"])  # the reference's own file
    cuda = [c for t in result["tasks"] for c in t["cases"] if c["device"] == "cuda"]
    assert cuda and all(c["status"] == "passed" for c in cuda), [(c["id"], c["status"], c.get("detail")) for c in cuda]
