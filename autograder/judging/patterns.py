"""Runtime patterns: the course's forbidden names as the two regular expressions the child applies.

`runtime_patterns` gives torch's function layer and its dispatcher (``attnlab.child.detectors.Detectors``) each
its own expression; `ALIASES` says what a course name also goes by there. `spelled` says which forbidden name a
name in the source stands for (the source scan, ``scan.py``, asks it).
"""

from __future__ import annotations

import re

# What a course name also goes by in torch's function layer and in aten. Names not listed here match
# themselves in both layers.
ALIASES: dict[str, dict[str, list[str]]] = {
    "softmax": {"function": ["softmax"], "aten": ["softmax", "safe_softmax"]},
    "log_softmax": {"function": ["log_softmax"], "aten": ["log_softmax"]},
    "scaled_dot_product_attention": {
        "function": ["scaled_dot_product_attention"],
        "aten": ["scaled_dot_product_\\w*attention\\w*", "flash_attention\\w*", "efficient_attention\\w*"],
    },
    "MultiheadAttention": {
        "function": ["multi_head_attention_forward", "native_multi_head_attention"],
        "aten": ["native_multi_head_attention"],
    },
    "multi_head_attention_forward": {
        "function": ["multi_head_attention_forward"],
        "aten": ["native_multi_head_attention"],
    },
}


def runtime_patterns(names: list[str]) -> dict[str, str]:
    """Regular expressions for the child: {"function": ..., "aten": ...}; empty strings match nothing."""
    fn, aten = [], []
    for n in names:
        a = ALIASES.get(n, {"function": [re.escape(n)], "aten": [re.escape(n)]})
        fn += a["function"]
        aten += a["aten"]
    # A function name such as "special_log_softmax" ends in the forbidden name; aten ops carry leading
    # underscores and suffixes ("_softmax", "_softmax_backward_data").
    return {
        "function": f"(^|_)({'|'.join(fn)})$" if fn else "",
        "aten": f"^_*({'|'.join(aten)})(_|$)" if aten else "",
    }


def spelled(name: str, forbidden: list[str]) -> str | None:
    for f in forbidden:
        if name == f or name in ALIASES.get(f, {}).get("function", []):
            return f
    return None
