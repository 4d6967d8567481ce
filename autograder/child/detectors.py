"""The worker's runtime checks, in torch's function layer and its dispatcher. Nothing here judges.

- `Detectors` watches for forbidden calls and keeps a trace of the aten ops a case ran (the canary);
- `CalleeRecorder` records what the student's own callee functions returned, for the callee replay;
- `DeviceDiscipline` raises on the first op that mixes devices (the meta-device case).

Each is bound before any student code loads (`_torch_kit`), so that a submission that later swaps
torch's mode classes or stack getters changes nothing here.
"""

from __future__ import annotations

import re

from .replies import error_info

# torch wraps a dispatch mode's handler to keep torch.compile out of it, and that wrapper imports
# torch._dynamo on first use: a second per worker. Our modes are never compiled, so we opt out.
_NO_DYNAMO = classmethod(lambda cls: False)

# What the detectors use, bound before any student code runs, so that a submission that later swaps torch's mode
# classes or stack getters, or re.compile, changes nothing here: the standard library's now, torch's by
# `_torch_kit` once (in the zygote's warm-up, before any worker is forked, and in every Worker's __init__: this
# file loads before torch, whose import must wait for the sandbox's probes to fork).
_compile = re.compile
_KIT: dict = {}
TRACE_OPS = 256  # at most this many aten op names per case in meta["trace"]


def _torch_kit(torch) -> dict:
    if not _KIT:
        from torch.overrides import TorchFunctionMode, _get_current_function_mode_stack
        from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode_stack
        from torch.utils._pytree import tree_leaves

        _KIT.update(
            Tensor=torch.Tensor,
            TorchFunctionMode=TorchFunctionMode,
            TorchDispatchMode=TorchDispatchMode,
            function_stack=_get_current_function_mode_stack,
            dispatch_stack=_get_current_dispatch_mode_stack,
            tree_leaves=tree_leaves,
        )
    return _KIT


def DeviceDiscipline(torch):
    """A dispatch mode that raises on the first aten op whose tensor arguments sit on different devices.

    CPU scalars (0-dim tensors) may mix with any device, as in torch itself.
    """
    kit = _torch_kit(torch)
    tree_leaves, Tensor = kit["tree_leaves"], kit["Tensor"]

    class _DeviceDiscipline(kit["TorchDispatchMode"]):
        _should_skip_dynamo = _NO_DYNAMO

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            devices = {
                t.device.type
                for t in tree_leaves((args, kwargs))
                if isinstance(t, Tensor) and not (t.dim() == 0 and t.device.type == "cpu")
            }
            if len(devices) > 1:
                raise RuntimeError(
                    f"{func.overloadpacket.__name__} mixes tensors on different devices: {', '.join(sorted(devices))}"
                )
            return func(*args, **kwargs)

    return _DeviceDiscipline


class CalleeRecorder:
    """While a caller task runs, wrap the student's own callee functions to record (args, result), and the
    forbidden calls the detectors saw inside each.

    The parent replays these records through the reference caller, to tell a caller's own mistake
    from one it inherited from a callee. It decides whose a callee's forbidden call is: the callee's task
    answers for it only where that task was graded in the same run (``attnlab.grading.forbidden.excused``).
    """

    def __init__(self, ns: dict, names: list[str], torch, detect: Detectors):
        self.ns, self.names, self.torch = ns, [n for n in names if callable(ns.get(n))], torch
        self.detect = detect
        self.calls: list = []
        self.saved: dict = {}
        self.forbidden: dict[str, set] = {}  # callee -> the forbidden calls seen inside it

    def _wrap(self, name: str, fn):
        recorder = self

        def recorded(*args, **kwargs):
            start = len(recorder.detect.hits)
            try:
                result = fn(*args, **kwargs)
            except BaseException as e:
                recorder.calls.append((name, args, kwargs, e))
                raise
            finally:  # out of the caller's own hits, into this callee's (a callee inside it took its own already)
                inner = recorder.detect.take(start)
                if inner:
                    recorder.forbidden.setdefault(name, set()).update(inner)
            if len(recorder.calls) < 64:
                recorder.calls.append((name, args, kwargs, result))
            return result

        recorded.__wrapped__ = fn
        return recorded

    def __enter__(self):
        for n in self.names:
            self.saved[n] = self.ns[n]
            self.ns[n] = self._wrap(n, self.ns[n])
        return self

    def __exit__(self, *exc):
        for n, fn in self.saved.items():
            self.ns[n] = fn
        return False

    def export_forbidden(self) -> dict:
        """{callee: the forbidden calls seen inside it}, for ``meta["callee_forbidden"]``."""
        return {name: sorted(hits) for name, hits in sorted(self.forbidden.items())}

    def export(self, out_tensors: dict) -> list:
        torch = self.torch
        calls = []
        for c, (name, args, kwargs, result) in enumerate(self.calls):

            def enc(v, key):
                if isinstance(v, torch.Tensor):
                    with torch._C.DisableTorchFunctionSubclass():
                        plain = torch.Tensor.as_subclass(v.detach(), torch.Tensor)
                    if plain.device.type == "meta":
                        return {"other": "meta tensor"}
                    out_tensors[key] = plain.to("cpu").contiguous().clone()
                    return {"t": key}
                if isinstance(v, (bool, int, float, str)) or v is None:
                    return {"v": v}
                if isinstance(v, torch.device):
                    return {"device": str(v)}
                return {"other": type(v).__name__}

            if isinstance(result, BaseException):
                calls.append(
                    {
                        "name": name,
                        "args": [enc(a, f"callee.{c}.arg.{i}") for i, a in enumerate(args)],
                        "kwargs": {},
                        "result": [],
                        "tuple": False,
                        "raised": error_info(result),
                    }
                )
                continue
            results = result if isinstance(result, tuple) else (result,)
            calls.append(
                {
                    "name": name,
                    "args": [enc(a, f"callee.{c}.arg.{i}") for i, a in enumerate(args)],
                    "kwargs": {k: enc(v, f"callee.{c}.kw.{k}") for k, v in kwargs.items()},
                    "result": [enc(r, f"callee.{c}.out.{i}") for i, r in enumerate(results)],
                    "tuple": isinstance(result, tuple),
                }
            )
        return calls


class Detectors:
    """Forbidden-call detection in two runtime layers: torch's function layer and its dispatcher.

    `names` are regular expressions made by the parent from course.yml (``attnlab.grading.forbidden``). A
    student who switches the function layer off (``torch._C.DisableTorchFunction`` or popping the mode
    stack) still meets the dispatcher; a call that reached the dispatcher but never the function layer
    is reported as an evasion.
    """

    def __init__(self, torch, spec: dict):
        kit = _torch_kit(torch)
        fn_re = _compile(spec["function"]) if spec.get("function") else None
        aten_re = _compile(spec["aten"]) if spec.get("aten") else None
        hits: list = []
        ops: set = set()
        counts = {"function": 0, "dispatch": 0}
        self.hits, self.ops, self.counts, self.torch = hits, ops, counts, torch
        self._stacks = kit["function_stack"], kit["dispatch_stack"]

        class FunctionLayer(kit["TorchFunctionMode"]):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                counts["function"] += 1
                name = getattr(func, "__name__", "") or ""
                if fn_re is not None and fn_re.search(name):
                    hits.append(name)
                return func(*args, **(kwargs or {}))

        class DispatchLayer(kit["TorchDispatchMode"]):
            _should_skip_dynamo = _NO_DYNAMO

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                counts["dispatch"] += 1
                name = func.overloadpacket.__name__
                ops.add(name)
                if aten_re is not None and aten_re.search(name):
                    hits.append(f"aten.{name}")
                return func(*args, **(kwargs or {}))

        self._layers = [FunctionLayer, DispatchLayer]
        self._active: list = []
        self.evasion = False

    def take(self, start: int) -> list:
        """The hits since `start` (an earlier ``len(self.hits)``), taken out of this window's own."""
        inner = self.hits[start:]
        del self.hits[start:]
        return inner

    def __enter__(self):
        self._active = [layer() for layer in self._layers]
        self.counts.update(function=0, dispatch=0)
        self.ops.clear()
        for mode in self._active:
            mode.__enter__()
        return self

    def __exit__(self, *exc):
        function_stack, dispatch_stack = self._stacks
        fn_mode, dispatch_mode = self._active
        if fn_mode not in function_stack() or dispatch_mode not in dispatch_stack():
            self.evasion = True  # the student's code popped or replaced our modes
        for mode in reversed(self._active):
            try:
                mode.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - a tampered stack must not crash the worker
                self.evasion = True
        if self.counts["dispatch"] > 0 and self.counts["function"] == 0:
            self.evasion = True  # tensors were computed while the function layer was switched off
        return False

    def trace(self) -> dict:
        """What the dispatcher saw in the last window: the parent checks that a case whose values are right
        shows the ops its task cannot do without (the canary: detectors that watched nothing see nothing)."""
        return {
            "ops": sorted(self.ops)[:TRACE_OPS],
            "dispatch": self.counts["dispatch"],
            "function": self.counts["function"],
        }

    def report(self) -> tuple[list, bool]:
        hits = sorted(set(self.hits))
        self.hits.clear()
        evasion, self.evasion = self.evasion, False
        return hits, evasion
