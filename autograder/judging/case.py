"""What a case is: one call of a student's function, its inputs and the reference's outputs; and the dtypes by name.

Both sides of the trusted parent import this module, and nothing else of each other's: the answers zone, which
draws cases (``attnlab.answers``), and judging, which compares a student's outputs with them. It imports torch and
the standard library only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

#: The dtypes a course may grade on, by the name course.yml gives them.
DT = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class Case:
    task: str
    id: str
    label: str  # in words, for the student: shapes, dtype, device, what is special
    kind: str
    spec: dict
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    dtype: str = "float32"
    device: str = "cpu"
    # The reference's outputs in float64 (tensors), or for `expect_error` the exception type name.
    expected: list | str | None = None
    # Reference gradients by name ("arg.0", "param.W_q.weight"), float64.
    expected_grads: dict[str, torch.Tensor] = field(default_factory=dict)
    # Recomputes the expected outputs with callee functions swapped in (for attribution); full install only.
    recompute: Callable | None = None
    probe: str = ""  # the property this case isolates, e.g. "e1" or "H=1"
    extra: dict = field(default_factory=dict)
    # The student build only: the mistake models' outputs on this case, by name (see diagnose.model_output).
    models: dict[str, torch.Tensor] = field(default_factory=dict)


def call_spans(steps: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """For a stepped case whose tokens come in calls of `steps` tokens each: (first, end), each of shape (T,),
    the index where each token's call starts and the one just after it ends."""
    starts = [sum(steps[:c]) for c in range(len(steps))]
    first = torch.cat([torch.full((n,), s) for s, n in zip(starts, steps)])
    return first, first + torch.cat([torch.full((n,), n) for n in steps])
