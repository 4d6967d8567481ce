"""Forbidden calls: what course.yml forbids, found in three layers.

1. A source scan (here, in the parent): every attribute, name or string that spells a forbidden
   function, and every reach for the switches that would blind the runtime layers
   (``torch._C.DisableTorchFunction``, the mode stacks, ``__torch_function__`` overrides).
2. torch's function layer, a ``TorchFunctionMode`` in the child (``runner.Detectors``).
3. torch's dispatcher, a ``TorchDispatchMode`` in the child, which sees aten ops even when the
   function layer is switched off.

`runtime_patterns` turns course names into the two regular expressions the child applies.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

# What a course name also goes by in torch's function layer and in aten. Names not listed here match
# themselves in both layers.
ALIASES: dict[str, dict[str, list[str]]] = {
    "softmax": {"function": ["softmax"], "aten": ["softmax", "safe_softmax"]},
    "log_softmax": {"function": ["log_softmax"], "aten": ["log_softmax"]},
    "scaled_dot_product_attention": {
        "function": ["scaled_dot_product_attention"],
        "aten": ["scaled_dot_product_\\w*attention\\w*", "flash_attention\\w*", "efficient_attention\\w*"],
    },
    "MultiheadAttention": {"function": ["multi_head_attention_forward", "native_multi_head_attention"],
                           "aten": ["native_multi_head_attention"]},
    "multi_head_attention_forward": {"function": ["multi_head_attention_forward"], "aten": ["native_multi_head_attention"]},
}

# Reaching for these switches off or fools the runtime detectors, so reaching is itself forbidden.
EVASION_NAMES = {
    "DisableTorchFunction",
    "DisableTorchFunctionSubclass",
    "_disabled_torch_function_impl",
    "_pop_mode",
    "_push_mode",
    "_set_torch_function_mode",
    "_get_current_function_mode_stack",
    "_get_current_dispatch_mode_stack",
    "_pop_torch_function_stack",
    "_push_on_torch_function_stack",
    "_python_dispatch",
    "TorchFunctionMode",
    "TorchDispatchMode",
    "__torch_function__",
    "__torch_dispatch__",
    "_C",
}


@dataclass
class Finding:
    name: str  # the forbidden name, or "evasion:<what>"
    line: int
    text: str

    @property
    def evasion(self) -> bool:
        return self.name.startswith("evasion:")


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


def _spelled(name: str, forbidden: list[str]) -> str | None:
    for f in forbidden:
        if name == f or name in ALIASES.get(f, {}).get("function", []):
            return f
    return None


def scan_source(cells: list[str], forbidden: list[str]) -> dict[str, list[Finding]]:
    """Findings per top-level function or class name ("" for code outside any), from every cell.

    Flagged: an attribute that spells a forbidden name (``torch.softmax``, ``x.softmax``), a local name
    imported under a forbidden name (``from torch.nn.functional import softmax as sm``; then ``sm``), a
    string that spells one (``getattr(torch, "softmax")``), and any reach for an evasion switch. A
    student's own function that happens to be called ``softmax`` is not flagged: what it calls is.
    """
    trees = []
    for source in cells:
        try:
            trees.append((ast.parse(source), source.splitlines()))
        except SyntaxError:
            continue
    imported: dict[str, str] = {}  # local name -> forbidden name
    for tree, _ in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    hit = _spelled(a.name, forbidden)
                    if hit:
                        imported[a.asname or a.name] = hit
    found: dict[str, list[Finding]] = {}
    for tree, lines in trees:
        for top in tree.body:
            owner = top.name if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else ""
            for node in ast.walk(top):
                hit = evasion = None
                if isinstance(node, ast.Attribute):
                    hit, evasion = _spelled(node.attr, forbidden), node.attr
                elif isinstance(node, ast.Name):
                    hit, evasion = imported.get(node.id), node.id
                elif isinstance(node, ast.alias):
                    hit, evasion = _spelled(node.name.split(".")[-1], forbidden), node.name.split(".")[-1]
                    if hit and owner == "":
                        hit = None  # a top-level import is charged where the name is used
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    evasion = node.name
                elif isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"[\w.]+", node.value):
                    hit, evasion = _spelled(node.value.split(".")[-1], forbidden), node.value.split(".")[-1]
                line = getattr(node, "lineno", 0)
                text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
                if hit:
                    found.setdefault(owner, []).append(Finding(hit, line, text))
                elif evasion in EVASION_NAMES:
                    found.setdefault(owner, []).append(Finding(f"evasion:{evasion}", line, text))
    return found
