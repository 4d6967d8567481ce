"""A student's code that draws random numbers (a dropout left on, a stray torch.rand) is graded the same on every run,
and check() leaves the student's own random generator as it found it (``Worker.run_case`` seeds each case)."""

from __future__ import annotations

import torch
from attnlab.notebook_check import run_in_process

from .fakes import COURSE


def attention(q, k, v, mask=None, temperature=1.0):
    """Right attention, then dropout on the weights that training=True leaves on."""
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    z = scores / temperature
    z = z - z.amax(-1, keepdim=True).nan_to_num(neginf=0.0)
    weights = z.exp() / z.exp().sum(-1, keepdim=True).clamp_min(1e-30)
    weights = torch.nn.functional.dropout(weights, p=0.3)
    return weights @ v, weights


def test_a_random_student_gets_the_same_feedback_twice_and_keeps_its_own_generator():
    task = COURSE.task("attention")
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    first = run_in_process(attention, task, COURSE, COURSE.public_seed)
    assert torch.equal(torch.random.get_rng_state(), before)  # the student's generator, as it was
    torch.manual_seed(99)  # whatever the kernel drew in between
    second = run_in_process(attention, task, COURSE, COURSE.public_seed)
    assert first.score < first.max_score
    assert (first.score, first.feedback) == (second.score, second.feedback)
