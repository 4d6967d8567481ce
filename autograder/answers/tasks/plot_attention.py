"""The plot_attention task, whole: its contract, reference and cases. Never shipped to students.

Lesson 3: the attention heatmap, one row per query and one column per key, labelled with the tokens. Its cases
are of the "plot" kind: the student's figure is read back (``attnlab.child.figure_data``) and judged by
``attnlab.judging.plot_judge``, and its diagnosis rules are public (``attnlab.judging.diagnose``). May import the
contract, the reference, the answers zone's helpers and the grading side's Case.
"""

from __future__ import annotations

import torch

from ... import reference as ref
from ...judging.case import Case
from ...tasks import Task, TaskSpec
from ..cases import Draw

SPEC = TaskSpec(
    "plot_attention",
    "plot_attention",
    args=("weights", "query_tokens", "key_tokens"),
    outputs=("ax",),
    todo="pass weights itself to imshow (or matshow, pcolormesh), unchanged",
    lesson="lesson3_masking",
    axes=(("query", "key"),),
    distributions=(),
)

#: The tokens of the self-attention heatmaps: the lesson's "it" -> "trophy" sentence.
TOKENS = ["the", "trophy", "did", "not", "fit", "in", "the", "suitcase", "because", "it", "was", "too", "big"]


def cases(m: Draw, dtypes: list[str], devices: list[str]) -> list[Case]:
    out = []
    for cid, L, S, keys, give_ax in [
        ("self", 6, 6, None, False),
        ("cross", 3, 5, "different", False),
        ("given_ax", 4, 4, None, True),
    ]:
        scores = m.randn(L, S, dtype="float64", scale=2.0)
        w = ref.softmax_with_temperature(scores, 1.0)
        q_tok = TOKENS[:L] if cid != "cross" else ["river", "bank", "flooded"]
        k_tok = None if keys is None else ["the", "river", "bank", "flooded", "today"][:S]
        args = [{"t": "w"}, {"v": q_tok}]
        if k_tok is not None:
            args.append({"v": k_tok})
        label = f"weights ({L}, {S})" + (", key_tokens given" if k_tok else "") + (", ax given" if give_ax else "")
        out.append(
            Case(
                SPEC.id,
                cid,
                label,
                "plot",
                {"kind": "plot", "args": args, "give_ax": give_ax},
                {"w": w.to(torch.float32)},
                "float32",
                "cpu",
                [w],
                extra={"query_tokens": q_tok, "key_tokens": k_tok or q_tok, "give_ax": give_ax},
            )
        )
    return out


TASK = Task(SPEC, reference=ref.plot_attention, cases=cases)
