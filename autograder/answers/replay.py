"""The callee replay: "would attention be right with *your* qk_scores?". Never shipped to students.

The reference caller is run with its callees replaced (`rebound`) by functions that return what
the student's own callees returned (`Replay`), so that a caller task that fails only because of a
wrong callee is not charged for it. `reference_shapes` gives the shapes the reference callee returns
for the arguments the student's caller passed, to tell which callee returned something out of shape.

The reference keeps the student contract's signatures: a callee is replaced in a copy of the
reference function with globals of its own (`rebound`), never by patching the reference. Any task whose
reference is a function can be a callee (`originals`): attnlab's own and a course's own alike, so that a course
task whose reference calls another course task's function gets the replay too. It names no task.
"""

from __future__ import annotations

import inspect
import math
import types

import torch

from ..judging.tolerance import close
from ..tasks import TASKS
from .cases import REGISTRY


def originals() -> dict:
    """The reference of every task whose reference is a function, by the function's name: the callees a
    reference caller may have replaced (`rebound`)."""
    return {t.spec.function: t.reference for t in REGISTRY.values() if inspect.isfunction(t.reference)}


def rebound(fn, callees: dict):
    """A copy of the reference function `fn` that calls `callees` (name -> function) in place of its own.

    The copy shares fn's code and reads its callees from globals of its own, so the reference is never
    patched: a call of it elsewhere, on another thread too, is the reference as written.
    """
    unknown = set(callees) - (set(originals()) & _reads(fn.__code__))
    if unknown:
        raise KeyError(f"the reference has no callee {sorted(unknown)[0]!r} to replace")
    if not callees:
        return fn
    copy = types.FunctionType(fn.__code__, {**fn.__globals__, **callees}, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy


def _reads(code: types.CodeType) -> set[str]:
    """The global names a function's code reads, its nested functions' and comprehensions' too."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _reads(const)
    return names


class Replay:
    """Callee functions for the reference caller that return what the student's callee returned.

    A call is matched by name and by every argument the reference caller passes, bound to the callee's
    signature with its defaults: the tensors (a mask by its values, as it broadcasts), the temperature and
    the dim. So a caller that passes the wrong temperature, dim or mask to a callee gets the reference
    callee's answer for what it should have passed, and is charged for its own slip. A call that was not
    recorded falls back to the reference callee (itself fed by the replayed ones).
    """

    def __init__(self, calls: list, tensors: dict):
        self.calls = calls
        self.tensors = tensors
        self.originals = originals()  # the callees' references, by function name: looked up once per replay

    def _decode(self, spec: dict):
        if "t" in spec:
            t = self.tensors[spec["t"]]
            return t if t.dtype == torch.bool else t.to(torch.float64)
        if "v" in spec:
            return spec["v"]
        return _UNREADABLE  # a device, or an object the worker could not send: matches no argument

    def _result(self, call: dict):
        res = [self.tensors[s["t"]].to(torch.float64) if "t" in s else None for s in call["result"]]
        if any(x is None for x in res):
            return None
        return tuple(res) if call["tuple"] else res[0]

    def lookup(self, name: str, args: tuple, kwargs: dict | None = None):
        """What the student's `name` returned when called with these arguments (as the reference caller
        passes them), or None where no recorded call had them all."""
        fn = self.originals.get(name)
        wanted = None if fn is None else _bound(fn, args, kwargs or {})
        if wanted is None:
            return None
        for call in self.calls:
            if call["name"] != name or call.get("raised"):
                continue
            have = _bound(
                fn,
                [self._decode(a) for a in call["args"]],
                {k: self._decode(a) for k, a in call["kwargs"].items()},
            )
            if have is not None and all(_same(k, have[k], w, wanted) for k, w in wanted.items() if k != "device"):
                return self._result(call)
        return None

    def functions(self) -> dict:
        """A stand-in for every callee (`originals`): what the student's own returned for these arguments, in the
        reference's dtype, or else the reference, itself fed by the stand-ins for its own callees."""
        out: dict = {}
        for name, original in self.originals.items():
            out[name] = self._stand_in(name, original, out)
        return out

    def _stand_in(self, name: str, original, stand_ins: dict):
        spec = next((t for t in TASKS.values() if t.function == name), None)
        own = spec.replayed if spec is not None else ()

        def reference(*args, **kwargs):
            return rebound(original, {c: stand_ins[c] for c in own if c in stand_ins})(*args, **kwargs)

        def stand_in(*args, **kwargs):
            got = self.lookup(name, args, kwargs)
            if got is None:
                return reference(*args, **kwargs)
            try:
                want = reference(*args, **kwargs)
            except Exception:  # noqa: BLE001 - the reference cannot take these: the student's result as it is
                return got
            return _like(got, want)

        stand_in.__name__ = name
        return stand_in


def _like(got, want):
    """The student's callee result `got` as the reference's `want` is: as many outputs (else the reference's, since
    the caller could not use it), and a mask where the reference gives one."""
    if isinstance(want, tuple) != isinstance(got, tuple) or (isinstance(want, tuple) and len(want) != len(got)):
        return want
    if not isinstance(want, tuple):
        return got != 0 if want.dtype == torch.bool else got
    return tuple(g != 0 if w.dtype == torch.bool else g for g, w in zip(got, want))


_UNREADABLE = object()


def _bound(fn, args, kwargs: dict) -> dict | None:
    """The arguments of a call of the reference callee `fn` by parameter name, defaults filled in; None where they
    do not fit its signature."""
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    return dict(bound.arguments)


def _same(param: str, a, b, wanted: dict) -> bool:
    """Whether argument `param` was `a` in the recorded call and `b` in the reference caller's."""
    if a is _UNREADABLE or b is _UNREADABLE:
        return False
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if a is None or b is None:  # no mask, or one that hides nothing
            t = a if b is None else b
            return t.dtype == torch.bool and bool(t.all())
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return False
        if a.dtype == torch.bool or b.dtype == torch.bool:  # a mask: the same values once broadcast
            try:
                x, y = torch.broadcast_tensors(a != 0, b != 0)
            except RuntimeError:
                return False
            return torch.equal(x, y)
        return a.shape == b.shape and close(a, b.to(torch.float64), 1e-2, 1e-2)
    if param == "dim" and isinstance(a, int) and isinstance(b, int):
        first = next((v for v in wanted.values() if isinstance(v, torch.Tensor)), None)
        n = first.dim() if first is not None and first.dim() else 1
        return a % n == b % n
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-6)
    return a == b


def reference_raises(call: dict, tensors: dict) -> bool:
    """Whether the reference callee raises on the arguments the student's caller passed it (a cache grown along the
    batch, say): then the caller is to blame, not the callee that raised."""
    try:
        args, kwargs = _decoded(call, tensors)
        originals()[call["name"]](*args, **kwargs)
    except Exception:  # noqa: BLE001 - any error: the reference cannot take these either
        return True
    return False


def _decoded(call: dict, tensors: dict) -> tuple[list, dict]:
    def dec(a):
        if "t" in a:
            return tensors[a["t"]].to(torch.float64) if tensors[a["t"]].dtype != torch.bool else tensors[a["t"]]
        if "device" in a:
            return None  # computed on the CPU here
        if "other" in a:
            raise ValueError(a["other"])
        return a["v"]

    return [dec(a) for a in call["args"]], {k: dec(a) for k, a in call["kwargs"].items()}


def reference_shapes(call: dict, tensors: dict) -> list | None:
    """The shapes the reference callee returns for the arguments the student's caller passed."""
    fn = originals().get(call["name"])
    try:
        args, kwargs = _decoded(call, tensors)
        out = fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 - arguments the reference cannot take say nothing about shapes
        return None
    return [tuple(o.shape) for o in (out if isinstance(out, tuple) else (out,))]
