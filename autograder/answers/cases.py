"""Drawing a task's cases: the seeded `Draw`, the reference's gradients, and what module tasks share. Never
shipped to students.

Each task's module (``answers/tasks/``, or a course's own through ``attnlab.task_api``) draws its cases from a
`Draw`, and the reference answers them in float64 on the very same inputs: the expected outputs, the gradients
and, for a caller task, a `recompute` that runs the reference caller with other callee functions put in
(``replay.rebound``). `draw_cases` finds the task in `REGISTRY`; ``attnlab.judging.cases.make_cases`` uses it,
and the student build ships the public seed's cases as data.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..judging.case import DT, Case
from ..tasks import Task

#: Every task this install can answer, by id: attnlab's own (``answers/tasks/``, registered by
#: ``answers/__init__``) and a course's own, which ``attnlab.task_api.install`` adds.
REGISTRY: dict[str, Task] = {}


def draw_cases(task_id: str, seed: int, dtypes: list[str], devices: list[str]) -> list[Case]:
    """All cases of one task, answered. The seed is mixed with the task id, so tasks draw independently."""
    mix = sum((i + 1) * ord(c) for i, c in enumerate(task_id))
    return REGISTRY[task_id].cases(Draw(seed * 1_000_003 + mix), dtypes, devices)


def f64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float64)


class Draw:
    """Draws inputs from one seeded generator, so that a seed fixes every case (``attnlab.task_api`` hands one
    to a course task's case builder)."""

    def __init__(self, seed: int):
        self.g = torch.Generator().manual_seed(int(seed))

    def randn(self, *shape, dtype: str = "float32", scale: float = 1.0) -> torch.Tensor:
        """Normal numbers of this shape, times `scale`, drawn in float64 and rounded to `dtype` (a course dtype)."""
        return (torch.randn(*shape, generator=self.g, dtype=torch.float64) * scale).to(DT[dtype])

    def randint(self, low: int, high: int, *shape) -> torch.Tensor:
        """Integers in [low, high) of this shape, int64 (lengths, token ids, positions)."""
        return torch.randint(low, high, shape, generator=self.g, dtype=torch.int64)

    def linears(self, params: list[str], dm: int, dtype: str, bias: bool) -> dict[str, torch.Tensor]:
        """The state of nn.Linear(dm, dm) layers by parameter name ("W_q.weight"): weights of scale 1/sqrt(dm),
        small biases (none without `bias`)."""
        state = {}
        for p in params:
            if p.endswith("bias") and not bias:
                continue
            shape = (dm, dm) if p.endswith("weight") else (dm,)
            state[p] = self.randn(*shape, dtype=dtype, scale=1 / math.sqrt(dm) if p.endswith("weight") else 0.1)
        return state

    def mask(self, L: int, S: int, full_row: int | None = None) -> torch.Tensor:
        """A random (L, S) bool mask, True where a query may see a key: every query sees one key at least, but
        query `full_row`, which sees none."""
        m = torch.rand(L, S, generator=self.g) < 0.6
        m[torch.arange(L), torch.randint(0, S, (L,), generator=self.g)] = True  # every row sees something
        if full_row is not None:
            m[full_row] = False
        return m


def grads_of(fn: Callable, inputs: list[torch.Tensor], upstream: list) -> list[torch.Tensor | None]:
    """Reference gradients in float64 of sum(upstream * outputs) w.r.t. inputs."""
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    outs = fn(*leaves)
    outs = outs if isinstance(outs, tuple) else (outs,)
    pairs = [(o, u) for o, u in zip(outs, upstream) if u is not None]
    total = sum((o * u).nan_to_num(0.0).sum() for o, u in pairs)
    return list(torch.autograd.grad(total, leaves, allow_unused=True))


def module_grads(m: Draw, case: Case, module, run: Callable) -> None:
    """Ask a module case for gradients: upstream gradients for its outputs, and the reference's gradients of
    sum(upstream * outputs) w.r.t. x ("arg.0") and every parameter of its state ("param.W_q.weight"), where
    `run(x)` gives `module`'s outputs."""
    ups = [m.randn(*e.shape, dtype="float64") for e in case.expected]
    case.tensors.update(up0=ups[0], up1=ups[1])
    case.spec["grad"] = {"upstream": ["up0", "up1"], "args": [0]}
    names = list(case.spec["state"])
    leaf = f64(case.tensors["x"]).clone().requires_grad_(True)
    total = sum((o * u).sum() for o, u in zip(run(leaf), ups))
    got = torch.autograd.grad(total, [leaf, *[module.get_parameter(n) for n in names]])
    case.expected_grads = {"arg.0": got[0], **{f"param.{n}": g for n, g in zip(names, got[1:])}}


def stepped(module, forward: Callable, x: torch.Tensor, steps: list[int]) -> list[torch.Tensor]:
    """[output (B, T, d), weights (B, T, T)]: `forward(module, chunk)` on x's tokens `steps` at a time, as the
    worker joins them (``child.worker``): outputs along the sequence, each call's weights padded on the right."""
    T, start, outs, weights = x.shape[1], 0, [], []
    for n in steps:
        out, w = forward(module, x[:, start : start + n])  # (B, n, d), (B, n, t)
        outs.append(out)
        weights.append(torch.nn.functional.pad(w, (0, T - w.shape[-1])))  # (B, n, T): no weight on unseen keys
        start += n
    return [torch.cat(outs, dim=1), torch.cat(weights, dim=1)]
