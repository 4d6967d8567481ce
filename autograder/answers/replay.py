"""The callee replay: "would attention be right with *your* qk_scores?". Never shipped to students.

The reference caller is run with its callees replaced (`rebound`) by functions that return what
the student's own callees returned (`Replay`), so that a caller task that fails only because of a
wrong callee is not charged for it. `reference_shapes` gives the shapes the reference callee returns
for the arguments the student's caller passed, to tell which callee returned something out of shape.

The reference keeps the student contract's signatures: a callee is replaced in a copy of the
reference function with globals of its own (`rebound`), never by patching the reference.
"""

from __future__ import annotations

import types

import torch

from .. import reference as ref
from ..grading.diagnose import close

#: The reference's own callees, which `rebound` may replace.
CALLEES = ("qk_scores", "softmax_with_temperature", "causal_mask", "attention")
_ORIGINAL = {name: getattr(ref, name) for name in CALLEES}


def rebound(fn, callees: dict):
    """A copy of the reference function `fn` that calls `callees` (name -> function) in place of its own.

    The copy shares fn's code and reads its callees from globals of its own, so the reference is never
    patched: a call of it elsewhere, on another thread too, is the reference as written.
    """
    unknown = set(callees) - set(CALLEES)
    if unknown:
        raise KeyError(f"the reference has no callee {sorted(unknown)[0]!r} to replace")
    if not callees:
        return fn
    copy = types.FunctionType(fn.__code__, {**fn.__globals__, **callees}, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy


class Replay:
    """Callee functions for the reference caller that return what the student's callee returned.

    A call is matched by name and by its tensor arguments; a call that was not recorded falls back to
    the reference callee (itself fed by the replayed ones).
    """

    def __init__(self, calls: list, tensors: dict):
        self.calls = calls
        self.tensors = tensors

    def _tensor_args(self, call: dict) -> list:
        specs = list(call["args"]) + list(call["kwargs"].values())
        return [self.tensors[s["t"]].to(torch.float64) for s in specs if "t" in s]

    def _result(self, call: dict):
        res = [self.tensors[s["t"]].to(torch.float64) if "t" in s else None for s in call["result"]]
        if any(x is None for x in res):
            return None
        return tuple(res) if call["tuple"] else res[0]

    def lookup(self, name: str, args: list):
        wanted = [a.detach().to(torch.float64) for a in args if isinstance(a, torch.Tensor)]
        for call in self.calls:
            if call["name"] != name:
                continue
            have = self._tensor_args(call)
            if len(have) >= len(wanted) and all(
                h.shape == w.shape and close(h, w, 1e-2, 1e-2) for h, w in zip(have, wanted)
            ):
                return self._result(call)
        return None

    def functions(self) -> dict:
        def qk(q, k):
            got = self.lookup("qk_scores", [q, k])
            return _ORIGINAL["qk_scores"](q, k) if got is None else got

        def sm(scores, temperature=1.0, dim=-1):
            got = self.lookup("softmax_with_temperature", [scores])
            return _ORIGINAL["softmax_with_temperature"](scores, temperature, dim) if got is None else got

        def att(q, k, v, mask=None, temperature=1.0):
            got = self.lookup("attention", [q, k, v])
            if got is None or not isinstance(got, tuple):
                own = rebound(_ORIGINAL["attention"], {"qk_scores": qk, "softmax_with_temperature": sm})
                return own(q, k, v, mask, temperature)
            return got

        def cm(seq_len, device=None):
            for call in self.calls:
                if call["name"] == "causal_mask":
                    got = self._result(call)
                    if got is not None and got.shape == (seq_len, seq_len):
                        return got != 0
            return _ORIGINAL["causal_mask"](seq_len, device=device)

        return {"qk_scores": qk, "softmax_with_temperature": sm, "attention": att, "causal_mask": cm}


def reference_shapes(call: dict, tensors: dict) -> list | None:
    """The shapes the reference callee returns for the arguments the student's caller passed."""

    def dec(a):
        if "t" in a:
            return tensors[a["t"]].to(torch.float64) if tensors[a["t"]].dtype != torch.bool else tensors[a["t"]]
        if "device" in a:
            return None  # computed on the CPU here
        if "other" in a:
            raise ValueError(a["other"])
        return a["v"]

    fn = _ORIGINAL.get(call["name"])
    try:
        out = fn(*[dec(a) for a in call["args"]], **{k: dec(a) for k, a in call["kwargs"].items()})
    except Exception:  # noqa: BLE001 - arguments the reference cannot take say nothing about shapes
        return None
    return [tuple(o.shape) for o in (out if isinstance(out, tuple) else (out,))]
