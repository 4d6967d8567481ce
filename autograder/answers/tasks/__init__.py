"""attnlab's own eight tasks, one module each, written against the API a course's own tasks use
(``attnlab.tasks.Task``; ``attnlab.task_api`` for instructors). Never shipped to students.

Each module defines ``TASK``: its contract (``SPEC``), its reference, its case builder and, where it has them,
its mistake models and knobs. `BUILTIN` lists them in course order; ``attnlab.answers`` registers them where
attnlab looks a task up, as ``attnlab.task_api.install`` does a course's own. Their contracts are public:

    python -m attnlab.answers.tasks      # writes attnlab/contracts.json, which attnlab.tasks reads

May import the contract, the reference, the answers zone and the grading side's Case; nothing that runs student
code.
"""

from __future__ import annotations

import json
import sys

from ...tasks import CONTRACTS, Task, spec_to_data
from . import (
    attention,
    causal_mask,
    kv_cache_attention,
    multi_head_attention,
    plot_attention,
    positional_encoding,
    qk_scores,
    softmax_with_temperature,
)

#: attnlab's own tasks, in course order.
BUILTIN: tuple[Task, ...] = tuple(
    m.TASK
    for m in (
        qk_scores,
        softmax_with_temperature,
        causal_mask,
        attention,
        multi_head_attention,
        plot_attention,
        positional_encoding,
        kv_cache_attention,
    )
)


def contracts_text() -> str:
    """contracts.json as the modules define the contracts now."""
    return json.dumps({"tasks": [spec_to_data(t.spec) for t in BUILTIN]}, indent=1) + "\n"


if __name__ == "__main__":
    CONTRACTS.write_text(contracts_text(), encoding="utf-8")
    print(f"wrote {CONTRACTS}", file=sys.stderr)
