"""The positional_encoding task, whole: its contract, reference, cases and mistake models. Never shipped to
students.

Lesson 5: positions, since attention alone sees a set. Column 2i holds sin(pos / 10000^(2i / d_model)) and
column 2i + 1 its cos. Its diagnosis rules are public (``attnlab.judging.diagnose``). May import the contract,
the reference, the answers zone's helpers and the grading side's Case.
"""

from __future__ import annotations

import torch

from ... import reference as ref
from ...judging.case import Case
from ...reference.attention import sinusoids
from ...tasks import Task, TaskSpec
from ..cases import Draw

SPEC = TaskSpec(
    "positional_encoding",
    "positional_encoding",
    args=("seq_len", "d_model"),
    outputs=("pe",),
    computes=(),
    todo="fill column 2i with sin(pos / 10000^(2i / d_model)) and column 2i + 1 with cos of the same angle",
    lesson="lesson5_order_and_memory",
    axes=(("position", "column"),),
    distributions=(),
)

#: The bases a positional encoding's frequencies are compared with: 100 is 10000^(i / d_model), the 2 of 2i
#: dropped; 10 and 1000 are a digit too few; 100000 one too many.
WRONG_BASES = (10, 100, 1000, 100000)


def cases(m: Draw, dtypes: list[str], devices: list[str]) -> list[Case]:
    """positional_encoding(seq_len, d_model): float32 whatever the course's dtypes, since it takes no tensor."""
    out = [
        _case(cid, L, d, note)
        for cid, L, d, note in [
            ("v0", 6, 8, ""),
            ("v1", 50, 64, "the lesson's figure"),
            ("v2", 1, 2, "one position, two features"),
            ("v3", 12, 4, "more positions than features"),
            ("v4", 16, 16, "square, so a transpose keeps the shape"),
        ]
    ]
    out.append(_case("device_cpu", 5, 6, "device = torch.device('cpu')", given="cpu"))
    on_meta = {"kind": "meta_device", "args": [{"v": 5}, {"v": 8}], "kwargs": {"device": {"device": "meta"}}}
    label = "seq_len = 5, d_model = 8, device= a device other than the CPU"
    out.append(Case(SPEC.id, "meta", label, "meta_device", on_meta, expected=["meta"]))
    for cid, L, d in [("bad_len_0", 0, 8), ("bad_odd_7", 4, 7)]:
        spec = {"kind": "expect_error", "args": [{"v": L}, {"v": d}]}
        label = f"seq_len = {L}, d_model = {d}" + (" (odd)" if d % 2 else "")
        out.append(Case(SPEC.id, cid, label, "expect_error", spec, expected="ValueError"))
    if "cuda" in devices:
        out.append(_case("cuda", 7, 8, "on cuda", device="cuda", given="cuda"))
    return out


def _case(cid: str, L: int, d: int, note: str, device: str = "cpu", given: str | None = None) -> Case:
    """positional_encoding(L, d), with `device=given` passed where given; expected in float64."""
    spec: dict = {"kind": "call", "args": [{"v": L}, {"v": d}]}
    if given is not None:
        spec["kwargs"] = {"device": {"device": given}}
    label = f"seq_len = {L}, d_model = {d}" + (f" ({note})" if note else "")
    extra = {"seq_len": L, "d_model": d}
    return Case(SPEC.id, cid, label, "call", spec, {}, "float32", device, [sinusoids(L, d)], extra=extra)


def mistake_models(case: Case) -> list[str]:
    if case.kind == "call" and case.extra["d_model"] >= 4:
        return ["pe_sin_cos_swapped"] + [f"pe_wrong_base:{base}" for base in WRONG_BASES]
    return []


def mistake_model(case: Case, slip: str, arg: str) -> torch.Tensor:
    """The encoding (seq_len, d_model) with cos in the even columns and sin in the odd ones, or another base."""
    L, d = case.extra["seq_len"], case.extra["d_model"]
    if slip == "pe_wrong_base":
        return sinusoids(L, d, base=float(arg))
    return sinusoids(L, d).view(L, d // 2, 2).flip(-1).reshape(L, d)  # pe_sin_cos_swapped: (cos, sin) pairs


TASK = Task(
    SPEC, reference=ref.positional_encoding, cases=cases, mistake_models=mistake_models, mistake_model=mistake_model
)
