"""The worker's runtime checks, in torch's function layer and its dispatcher. Nothing here judges.

- `Detectors` watches for forbidden calls and keeps a trace of the aten ops a case ran (the canary);
- `CalleeRecorder` records what the student's own callee functions returned, for the callee replay;
- `DeviceDiscipline` raises on the first op that mixes devices (the meta-device case), and runs the ops
  meant for the meta device on CPU stand-ins (`StandIns`), without torch's slow first use of meta kernels.

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
        from torch.utils._pytree import tree_leaves, tree_map

        _KIT.update(
            Tensor=torch.Tensor,
            TorchFunctionMode=TorchFunctionMode,
            TorchDispatchMode=TorchDispatchMode,
            function_stack=_get_current_function_mode_stack,
            dispatch_stack=_get_current_dispatch_mode_stack,
            tree_leaves=tree_leaves,
            tree_map=tree_map,
            zeros=torch.zeros,
            empty_strided=torch.empty_strided,
            Tag=torch.Tag,
        )
    return _KIT


def DeviceDiscipline(torch):
    """A dispatch mode that raises on the first aten op whose tensor arguments sit on different devices.

    CPU scalars (0-dim tensors) may mix with any device, as in torch itself.

    An op on the meta device runs on CPU stand-ins (`StandIns`) where they can tell what the meta kernel would
    say, and on the meta device otherwise: torch's meta kernels import sympy and torch._dynamo on first use,
    a second or two per worker, while the CPU kernels answer at once.
    """
    kit = _torch_kit(torch)
    tree_leaves, Tensor = kit["tree_leaves"], kit["Tensor"]
    stand_ins = StandIns(kit)

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
            out = stand_ins.run(func, args, kwargs, devices)
            return func(*args, **kwargs) if out is NotImplemented else out

    return _DeviceDiscipline


class StandIns:
    """Runs an op meant for the meta device on zero-filled CPU tensors of the same sizes, strides and dtypes, and
    gives back meta tensors with the metadata of the CPU results: what the meta kernel would have returned.

    Each meta storage gets one CPU buffer, and each meta tensor the same view of it, so that overlapping arguments
    overlap here too; an in-place op returns its meta argument itself. A factory whose device= is meta runs with
    device= the CPU. `run` answers NotImplemented, and the op runs on the meta device, where stand-ins could not
    tell (`_signature`), where a tensor is big (`MAX_ELEMENTS`: its stand-in would cost memory), and where the
    CPU kernel refuses the stand-ins (then the meta kernel decides, and raises what the student should see).
    """

    MAX_ELEMENTS = 1 << 20
    # Tags of ops whose stand-in run could differ from their meta run (those this torch has).
    UNSURE_TAGS = ("data_dependent_output", "dynamic_output_shape", "nondeterministic_seeded", "inplace_view")

    def __init__(self, kit: dict):
        self.kit = kit
        self._signatures: dict = {}  # OpOverload -> `_signature`

    def run(self, func, args: tuple, kwargs: dict, devices: set[str]):
        """The op's results on the meta device, or NotImplemented. `devices`: where its tensors are (CPU scalars
        left out); {"meta"}, or none at all for a factory."""
        signature = self._signature(func)
        if signature is None or not devices <= {"meta"}:
            return NotImplemented
        device_args, size_args = signature
        args, kwargs = list(args), dict(kwargs)
        asked = []  # the values of its device= arguments
        for position, name in device_args:
            value = _argument(args, kwargs, position, name)
            if value is not None and getattr(value, "type", value) != "meta":
                return NotImplemented  # its results would leave the meta device
            asked.append(value)
            if value is not None:
                _set_argument(args, kwargs, position, name, "cpu")
        if not devices and not any(v is not None for v in asked):
            return NotImplemented  # a factory on the default device: no meta in it
        for position, name in size_args:
            numel = 1
            for n in _argument(args, kwargs, position, name) or ():
                numel *= int(n)
            if numel > self.MAX_ELEMENTS:
                return NotImplemented
        try:
            return self._run(func, args, kwargs)
        except Exception:  # noqa: BLE001 - the CPU kernel refused the stand-ins: the meta kernel decides
            return NotImplemented

    def _signature(self, func) -> tuple[list, list] | None:
        """([(position, name)] of its Device arguments, and of its sizes) where the CPU kernel of `func`, run on
        stand-ins, says what its meta kernel would: new tensors of the same sizes, strides and dtypes, and nothing
        else; None where it could not.

        Not for views (their results must alias the meta inputs), ops that write to an ``out=`` argument, ops that
        return anything but tensors (``.item()``, ``equal``), ops whose result shape depends on the data
        (``nonzero``, boolean indexing) and ops that draw random numbers (they would move the CPU generator). An
        in-place op on its first argument is fine: its result is that argument (`_run` checks that it kept its
        shape).
        """
        if func in self._signatures:
            return self._signatures[func]
        Tag = self.kit["Tag"]
        unsure = {getattr(Tag, t, None) for t in self.UNSURE_TAGS} - {None}
        schema = func._schema
        written = [a for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write]
        aliased = [r.alias_info for r in schema.returns]
        in_place = written == schema.arguments[:1] and len(aliased) == 1 and aliased[0] is not None
        signature = None
        if (
            not unsure & set(func.tags)
            and all(str(r.type) == "Tensor" for r in schema.returns)
            and ((in_place and aliased[0].is_write) or (not written and aliased == [None] * len(aliased)))
        ):
            signature = (
                [(i, a.name) for i, a in enumerate(schema.arguments) if "Device" in str(a.type)],
                [(i, a.name) for i, a in enumerate(schema.arguments) if a.name == "size" and "[]" in str(a.type)],
            )
        self._signatures[func] = signature
        return signature

    def _run(self, func, args: list, kwargs: dict):
        Tensor, tree_map, zeros, empty_strided = (self.kit[k] for k in ("Tensor", "tree_map", "zeros", "empty_strided"))
        buffers: dict = {}  # (meta storage, dtype) -> its CPU buffer
        originals: dict = {}  # id(stand-in) -> (stand-in, the meta tensor it stands for)

        def down(t):
            if not isinstance(t, Tensor) or t.device.type != "meta":
                return t
            storage = t.untyped_storage()
            key = (storage._cdata, t.dtype)
            if key not in buffers:
                n = storage.nbytes() // t.element_size()
                if max(n, t.numel()) + sum(b.numel() for b in buffers.values()) > self.MAX_ELEMENTS:
                    raise MemoryError("too big for stand-ins")
                buffers[key] = zeros(n, dtype=t.dtype)
            s = buffers[key].as_strided(t.size(), t.stride(), t.storage_offset())
            originals[id(s)] = (s, t)
            return s

        def up(r):
            if not isinstance(r, Tensor):
                return r
            if id(r) in originals:  # an in-place op returns its argument, which must have kept its shape
                s, t = originals[id(r)]
                if (s.size(), s.stride(), s.storage_offset()) != (t.size(), t.stride(), t.storage_offset()):
                    raise ValueError(f"{func} changed its argument's shape: the meta kernel must")
                return t
            return empty_strided(r.size(), r.stride(), dtype=r.dtype, device="meta")

        return tree_map(up, func(*tree_map(down, args), **tree_map(down, kwargs)))


def _argument(args: list, kwargs: dict, position: int, name: str):
    """An aten op's argument as the dispatcher passed it: by name where it is keyword-only, else by position."""
    return args[position] if position < len(args) else kwargs.get(name)


def _set_argument(args: list, kwargs: dict, position: int, name: str, value) -> None:
    if position < len(args):
        args[position] = value
    else:
        kwargs[name] = value


class CalleeRecorder:
    """While a caller task runs, wrap the student's own callee functions to record (args, result), and the
    forbidden calls the detectors saw inside each.

    The parent replays these records through the reference caller, to tell a caller's own mistake
    from one it inherited from a callee. It decides whose a callee's forbidden call is: the callee's task
    answers for it only where that task was graded in the same run (``attnlab.judging.excuses.excused``).
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

    `names` are regular expressions made by the parent from course.yml (``attnlab.judging.patterns``). A
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
