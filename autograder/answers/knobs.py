"""The reference with one of its knobs turned: how each `attnlab.tasks.Knob` is run. Never shipped to students.

A task's spec declares its knobs and the words for each value (public: they go into hints). The task's module
says how its reference computes the output with the knob at that value (``Task.knob_model``): "knob:diagonal=1"
is causal_mask with torch.tril(..., diagonal=1), and which knobs fit a case (``Task.knob_fits``). The describer
(``attnlab.judging.describe``) compares a student's output with these through the same seam as the mistake
models (``diagnose.model_output``), and the student build precomputes them on the public cases as it does the
mistake models, so `applicable` must list exactly what `build` can compute.

Here too are the knobs that module tasks with nn.Linear projections share (`params_fit`, `with_params`).

May import the reference and the grading side's Case; nothing that runs student code. It names no task.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..judging.case import Case
from ..tasks import TASKS, Knob
from .cases import REGISTRY


def applicable(case: Case) -> list[str]:
    """The knob models ("knob:NAME=VALUE") that the describer may compare a student's output on `case` with."""
    task = REGISTRY[case.task]
    if case.kind not in ("call", "module") or task.knob_model is None:
        return []
    out = []
    for knob in TASKS[case.task].knobs:
        for value, _ in knob.choices:
            if task.knob_fits is None or task.knob_fits(knob.name, value, case):
                out.append(f"knob:{knob.name}={value}")
    return out


def build(name: str, case: Case) -> torch.Tensor | None:
    """The knob model `name` ("knob:diagonal=1") on `case`: the knob's output, float64 (bool for a mask), or None
    where the knob does not fit the case."""
    knob, _, value = name.removeprefix("knob:").partition("=")
    model = REGISTRY[case.task].knob_model(knob, value, case)
    if model is None:
        return None
    return model if model.dtype == torch.bool else model.to(torch.float64)


def projection_knobs(x: str) -> tuple[Knob, ...]:
    """The knobs of a module task whose nn.Linear layers W_q, W_k and W_v project its input `x` ("x_new"): one
    projection in place of another, or left out ("params" on the weights, "params_v" on the output), and every
    projection computing x @ W.weight ("linear"). `params_fit` and `with_params` run them."""
    return (
        Knob(
            "params",
            (
                ("W_k=W_q", f"your keys are projected with W_q, where W_k belongs: k = self.W_k({x})"),
                ("W_q=W_k", f"your queries are projected with W_k, where W_q belongs: q = self.W_q({x})"),
                ("W_k=I", f"your keys are {x} itself, never projected: k = self.W_k({x})"),
                ("W_q=I", f"your queries are {x} itself, never projected: q = self.W_q({x})"),
            ),
            output=1,
        ),
        Knob(
            "params_v",
            (
                ("W_v=W_k", f"your values are projected with W_k, where W_v belongs: v = self.W_v({x})"),
                ("W_v=W_q", f"your values are projected with W_q, where W_v belongs: v = self.W_v({x})"),
                ("W_v=I", f"your values are {x} itself, never projected: v = self.W_v({x})"),
            ),
        ),
        Knob(
            "linear",
            (
                (
                    "x@W",
                    "your projections compute x @ W.weight, where nn.Linear computes x @ W.weight.T + W.bias: call "
                    "the layer, self.W_q(x), or transpose the weight and add the bias",
                ),
            ),
            output=1,
        ),
    )


def params_fit(name: str, value: str, case: Case) -> bool:
    """Whether a module case's projections can be turned as the knob says: "linear" (x @ W.weight) where it has
    parameters; "params" ("W_k=W_q") where both projections are there and differ, and "W_v=I" where the projection
    is square, so that its input can stand in for its output."""
    if name == "linear":
        return bool(case.extra.get("state"))
    a, _, b = value.partition("=")
    st = case.extra.get("state", {})
    if b == "I":
        w = st.get(f"{a}.weight")
        return w is not None and w.dim() == 2 and w.shape[0] == w.shape[1]
    return f"{a}.weight" in st and f"{b}.weight" in st and not torch.equal(st[f"{a}.weight"], st[f"{b}.weight"])


def with_params(case: Case, value: str, run: Callable, untransposed: bool = False) -> list[torch.Tensor]:
    """A module task's reference outputs, `run(case, state, x)`, with one projection's parameters standing in for
    another's ("W_k=W_q"; "W_v=I", the projection left out), or, `untransposed`, with every projection computing
    x @ W.weight (what nn.Linear does with W.T and no bias)."""
    a, _, b = value.partition("=")
    st = {k: v.to(torch.float64) for k, v in case.extra["state"].items()}
    if b == "I":  # "W_v=I": the projection left out, its input passed on as it is
        st[f"{a}.weight"] = torch.eye(st[f"{a}.weight"].shape[0], dtype=torch.float64)
        if f"{a}.bias" in st:
            st[f"{a}.bias"] = torch.zeros_like(st[f"{a}.bias"])
    for part in ("weight", "bias"):
        if b and f"{b}.{part}" in st:
            st[f"{a}.{part}"] = st[f"{b}.{part}"]
    if untransposed:
        st = {k: (v.T.contiguous() if k.endswith(".weight") else torch.zeros_like(v)) for k, v in st.items()}
    return run(case, st, case.extra["x"].to(torch.float64))
