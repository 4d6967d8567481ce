"""The causal_mask task, whole: its contract, reference, cases, mistake models and knob. Never shipped to students.

Lesson 3: the mask that lets each token see itself and the past. Its diagnosis rules are public
(``attnlab.judging.diagnose``); the models here are one slip from the answer. May import the contract, the
reference, the answers zone's helpers and the grading side's Case.
"""

from __future__ import annotations

import torch

from ... import reference as ref
from ...judging.case import Case
from ...tasks import Knob, Task, TaskSpec
from ..cases import Draw

SPEC = TaskSpec(
    "causal_mask",
    "causal_mask",
    args=("seq_len",),
    outputs=("mask",),
    computes=(),
    todo="compare the positions: entry (i, j) is True where j <= i, so that each token sees itself and the past",
    lesson="lesson3_masking",
    axes=(("query", "key"),),
    distributions=(),
    knobs=(
        Knob(
            "diagonal",
            (
                (
                    "1",
                    "your mask also shows each query the next key (j <= i + 1, as torch.tril(..., diagonal=1) "
                    "gives): keep the diagonal at 0, so that j <= i",
                ),
                (
                    "2",
                    "your mask also shows each query the next two keys (j <= i + 2): keep the diagonal at 0, so "
                    "that j <= i",
                ),
            ),
        ),
    ),
)


def cases(m: Draw, dtypes: list[str], devices: list[str]) -> list[Case]:
    out = [_case(f"n{n}", f"seq_len = {n}", n) for n in (1, 5, 8)]
    out.append(_case("device_cpu", "seq_len = 4, device = torch.device('cpu')", 4, given="cpu"))
    on_meta = {"kind": "meta_device", "args": [{"v": 4}], "kwargs": {"device": {"device": "meta"}}}
    label = "seq_len = 4, device= a device other than the CPU"
    out.append(Case(SPEC.id, "meta", label, "meta_device", on_meta, expected=["meta"]))
    for bad in (0, -3):
        spec = {"kind": "expect_error", "args": [{"v": bad}]}
        label = f"seq_len = {bad}"
        out.append(Case(SPEC.id, f"bad_{bad}", label, "expect_error", spec, expected="ValueError", probe="invalid_len"))
    if "cuda" in devices:
        out.append(_case("cuda", "seq_len = 5 on cuda", 5, device="cuda", given="cuda"))
    return out


def _case(cid: str, label: str, n: int, device: str = "cpu", given: str | None = None) -> Case:
    """causal_mask(n), with `device=given` passed where given."""
    spec: dict = {"kind": "call", "args": [{"v": n}]}
    if given is not None:
        spec["kwargs"] = {"device": {"device": given}}
    return Case(SPEC.id, cid, label, "call", spec, {}, "bool", device, [ref.causal_mask(n)], extra={"n": n})


def mistake_models(case: Case) -> list[str]:
    if case.kind == "call" and case.extra.get("n", 0) > 1:
        return ["mask_inverted", "mask_inverted:with_diagonal", "mask_diagonal_excluded"]
    return []


def mistake_model(case: Case, slip: str, arg: str) -> torch.Tensor:
    n = case.extra["n"]
    query, key = torch.arange(n).unsqueeze(1), torch.arange(n).unsqueeze(0)  # (n, 1), (1, n)
    if slip == "mask_inverted":
        return key >= query if arg == "with_diagonal" else key > query  # the future (and the token itself)
    return key < query  # mask_diagonal_excluded: the past without the token itself


def knob_fits(name: str, value: str, case: Case) -> bool:
    return case.extra.get("n", 0) > int(value)  # on a shorter mask the knob changes nothing


def knob_model(name: str, value: str, case: Case) -> torch.Tensor:
    """diagonal: torch.tril(ones, diagonal=value)."""
    n = case.extra["n"]
    return torch.ones(n, n, dtype=torch.bool).tril(int(value))


TASK = Task(
    SPEC,
    reference=ref.causal_mask,
    cases=cases,
    mistake_models=mistake_models,
    mistake_model=mistake_model,
    knob_model=knob_model,
    knob_fits=knob_fits,
)
