"""A worker: loads one submission and runs the cases the parent sends it. Nothing here judges.

A worker first confines itself (``confine.enter``: its own namespaces and filesystem view, no
privileges, rlimits, Landlock and seccomp), then loads one submission and answers task requests from
the parent over a private socket: for each case it calls the student's function on the tensors it was
sent and sends back the outputs as plain tensors (safetensors bytes), with what it saw: exceptions,
gradients, mutated inputs and calls to forbidden functions. The parent trusts none of this; it compares
it with the reference.

Messages on the socket are described in ``wire.py`` and ``replies.py``; the case format is documented
in ``attnlab.judging.cases``.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

from . import figure_data, wire
from .ahead import import_ahead, modules_named
from .detectors import CalleeRecorder, Detectors, DeviceDiscipline, _torch_kit
from .replies import CaseReply, Op, Status, error_info, first_line, student_traceback

#: What torch's CPU generator is seeded with before each case (`Worker.run_case`).
CASE_SEED = 20240607


class Worker:
    """Serves one submission: a `load` request, then `run` requests, each in a child forked from the loaded
    submission (`run_forked`), one reply frame per case.

    A worker forked before the zygote had loaded matplotlib's drawing modules (the first one) forks the child
    for its first plot task as soon as the submission is loaded: that spare loads them while the other tasks
    run (`fork_spare`).
    """

    def __init__(self, chan: socket.socket | None, private_copy: str | None = None, gpu_memory_mb: int | None = None):
        import torch

        self.torch = torch
        self.chan = chan
        self.private_copy = private_copy  # the read-only copy of the submission, for __file__
        self.gpu_memory_mb = gpu_memory_mb  # the cap this worker puts on its GPU memory before a cuda case
        self.ns: dict = {}
        # Bound before any student code loads: each task's detectors and callee recorder are made from these,
        # never from module names looked up when the task runs, which a submission could have rebound.
        _torch_kit(torch)
        self.detectors, self.recorder, self.device_discipline = Detectors, CalleeRecorder, DeviceDiscipline(torch)
        self.spare: tuple[int, socket.socket] | None = None  # (pid, socket) of the first plot task's child

    def serve(self) -> None:
        try:
            while True:
                try:
                    header, payload = wire.recv(self.chan)
                except wire.ChannelClosed:
                    return
                op = header.get("op")
                if op == Op.LOAD:
                    self.load(header)
                    if self.spare is None and "matplotlib.pyplot" not in sys.modules:
                        self.fork_spare()
                elif op == Op.RUN:
                    self.run_forked(header, payload)
                elif op == Op.BYE:
                    return
        finally:
            if self.spare is not None:
                _end_children(self.spare[0])

    # -- a task in a child of its own

    def run_forked(self, header: dict, payload: bytes) -> None:
        """Run one task in a child forked from this loaded process (copy-on-write), so that a crash, an
        ``os._exit`` or a hang costs that task's child, not a reload of the submission.

        The child writes its frames to a socket of its own, and this process passes them on to the parent
        whole: a child that dies mid-frame leaves nothing half-written on the parent's channel. Then one
        frame says how it ended: ``crashed`` (it died) or ``timeout`` (``header["seconds"]`` ran out, and
        it was killed). What the child started is killed with it. Where CUDA was started while loading,
        a forked child could not use it: the task runs in this process then, as it did before forking.
        """
        if self.torch.cuda.is_initialized():
            self.run(header, payload)
            return
        seconds = header.get("seconds")
        deadline = time.monotonic() + float(seconds) if seconds else None
        pid, mine = self.take_spare(header, payload, seconds) or self.fork_child(header, payload)
        try:
            while True:
                try:
                    frame, blob = wire.recv(mine, deadline)
                except wire.Deadline:
                    wire.send(self.chan, {"op": Op.TIMEOUT})
                    return
                except (wire.ChannelClosed, wire.ChannelCorrupt):
                    wire.send(self.chan, {"op": Op.CRASHED})
                    return
                wire.send(self.chan, frame, blob)
                if frame.get("op") == Op.DONE:
                    return
        finally:
            mine.close()
            _end_children(pid, keep=self.spare[0] if self.spare else None)

    def _fork(self, body: Callable[[], None]) -> tuple[int, socket.socket]:
        """(pid, socket) of a child forked from the loaded submission, which runs `body` with its end of that
        socket as its channel, then exits."""
        mine, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            try:
                mine.close()
                self.chan.close()
                if self.spare is not None:
                    self.spare[1].close()  # the spare hears from this worker only
                self.chan = theirs
                body()
            finally:
                os._exit(0)
        theirs.close()
        return pid, mine

    def fork_child(self, header: dict, payload: bytes) -> tuple[int, socket.socket]:
        """(pid, socket) of a fresh child that runs this task."""

        def body() -> None:
            os.setpgid(0, 0)  # its own group: what it starts dies with it, where there is no PID namespace
            self.run(header, payload)

        return self._fork(body)

    def fork_spare(self) -> None:
        """Fork the child for the first plot task now, from the loaded submission as every task's child is: it
        imports matplotlib's drawing modules (``figure_data.load_drawing``) while the tasks before it run, then
        waits for its task. It stays in this worker's process group until then, so that it dies with it. Where
        CUDA was started while loading, tasks run in this process (`run_forked`): no spare then."""
        if self.torch.cuda.is_initialized():
            return

        def body() -> None:
            try:
                figure_data.load_drawing()
            except Exception:  # noqa: BLE001 - the plot task then imports what it needs itself
                pass
            try:
                header, payload = wire.recv(self.chan)
            except (wire.ChannelClosed, wire.ChannelCorrupt):
                return  # no plot task came
            os.setpgid(0, 0)
            self.run(header, payload)

        self.spare = self._fork(body)

    def take_spare(self, header: dict, payload: bytes, seconds) -> tuple[int, socket.socket] | None:
        """The spare child, handed this task, where it is a plot task; None otherwise, or where the spare is gone."""
        if self.spare is None or not any(c.get("kind") == "plot" for c in header["cases"]):
            return None
        (pid, mine), self.spare = self.spare, None
        try:
            mine.settimeout(float(seconds) if seconds else None)
            wire.send(mine, header, payload)
        except OSError:  # it died, or hangs while loading: a fresh child takes the task
            mine.close()
            _end_children(pid)
            return None
        return pid, mine

    # -- loading

    def load(self, header: dict) -> None:
        # The lessons call `check(...)` for instant feedback. Here that would run the judge inside the
        # student's process; a stub makes it a no-op, and `import attnlab.reference` fails. Their `earlier(...)`
        # reads an earlier lesson's notebook in the student's kernel; here it gives stand-ins (`placeholders`).
        stub = types.ModuleType("attnlab", "attnlab as the trusted grader's child sees it: check() does nothing here.")
        stub.check = lambda *args, **kwargs: None
        stub.earlier = _earlier
        sys.modules["attnlab"] = stub
        ns = {
            "__name__": "submission",
            "__file__": self.private_copy or header["filename"],
            "__builtins__": __builtins__,
        }
        mod = types.ModuleType("submission")
        mod.__dict__.update(ns)
        sys.modules["submission"] = mod
        self.ns = mod.__dict__
        errors = []
        skip = set(header.get("skip", []))
        for index, cell in enumerate(header["cells"]):
            if index in skip:  # it ended or hung an earlier worker: the parent reports it as a load error
                continue
            if header["notebook"]:
                wire.send(self.chan, {"op": Op.CELL, "index": index})  # so the parent knows which cell it was
            try:
                code = compile(
                    cell, f"{header['filename']}" + (f" [cell {index + 1}]" if header["notebook"] else ""), "exec"
                )
                exec(code, self.ns)
            except BaseException as e:  # noqa: BLE001 - a scratch cell that raises must not stop grading
                errors.append(
                    {"cell": index + 1, "type": type(e).__name__, "msg": first_line(e), "tb": student_traceback(e)}
                )
                if not header["notebook"]:
                    break
        cells = (c for i, c in enumerate(header["cells"]) if i not in skip)
        ahead = [n for n in modules_named(cells) if n not in sys.modules]
        if ahead and header.get("ahead_seconds"):
            wire.send(self.chan, {"op": Op.AHEAD})  # the parent gives these imports a time of their own
            import_ahead(ahead, header["ahead_seconds"])
        names = sorted(n for n in header["names"] if n in self.ns)
        wire.send(self.chan, {"op": Op.LOADED, "names": names, "errors": errors})

    # -- running cases

    def run(self, header: dict, payload: bytes) -> None:
        from safetensors.torch import load as st_load

        tensors = st_load(payload) if payload else {}
        fn = self.ns.get(header["function"])
        detect = self.detectors(self.torch, header.get("forbidden", {}))
        callees = header.get("callees", [])
        if self.gpu_memory_mb and any(c.get("device") == "cuda" for c in header["cases"]):
            self.cap_gpu_memory()
        for case in header["cases"]:
            t0 = time.perf_counter()
            try:
                meta, out = self.run_case(fn, case, tensors, detect, callees)
            except BaseException as e:  # noqa: BLE001 - student exceptions are data
                meta, out = {"status": Status.ERROR, "error": error_info(e)}, {}
            meta.update(id=case["id"], seconds=time.perf_counter() - t0)
            wire.send(self.chan, {"op": Op.CASE, **meta}, _pack(out))
        wire.send(self.chan, {"op": Op.DONE})

    def cap_gpu_memory(self) -> None:
        """Start CUDA here (never in the zygote) and cap what this worker may take of the GPU's memory."""
        cuda = self.torch.cuda
        total = cuda.get_device_properties(0).total_memory
        cuda.set_per_process_memory_fraction(min(1.0, self.gpu_memory_mb * (1 << 20) / total), 0)
        self.gpu_memory_mb = None  # once per process (each task's child, or the worker where it runs tasks itself)

    def run_case(self, fn, case: dict, tensors: dict, detect: Detectors, callees: list[str]) -> tuple[CaseReply, dict]:
        """One case: (its `replies.CaseReply`, the tensors for its payload), by the case's kind (`KINDS`)."""
        if fn is None:
            return {"status": Status.MISSING}, {}
        handler = KINDS.get(case["kind"])
        if handler is None:
            raise ValueError(f"unknown case kind {case['kind']!r}")
        # torch's CPU generator seeded the same for every case, its state put back after: code that draws random
        # numbers (a dropout left on) gets the same grade and the same feedback on every run, and check() leaves
        # the student's own generator as it found it.
        with self.torch.random.fork_rng(devices=[]):
            self.torch.default_generator.manual_seed(CASE_SEED)
            return handler(self, _Run(self, fn, case, tensors, detect, callees))

    # -- one handler per case kind

    def run_value(self, run: _Run) -> tuple[CaseReply, dict]:
        """call / module: the outputs, described and sent back, then the gradients where the case asks."""
        try:
            value = self.call(run)
        except BaseException as e:  # noqa: BLE001 - the student's exceptions are data
            meta = {"status": Status.ERROR, "error": error_info(e), **_class_grown(run, self.torch)}
            return run.observed(meta, mutated=False), run.out
        meta: dict = {"status": Status.OK, **self.outputs(value, run.out), **_class_grown(run, self.torch)}
        if run.projected is not None:
            meta["projected"] = run.projected
        if run.case.get("grad"):
            try:
                meta["grads"] = self.grads(
                    value, run.case["grad"], run.tensors, run.device, run.args, self.params, run.out
                )
            except BaseException as e:  # noqa: BLE001
                meta["grads"] = {"status": Status.ERROR, "error": error_info(e)}
        return run.observed(meta), run.out

    def run_expect_error(self, run: _Run) -> tuple[CaseReply, dict]:
        """expect_error: the call must raise; say what it raised, or what it returned instead."""
        meta: dict = {"status": Status.OK}
        try:
            with run.detect:
                value = run.fn(*run.args, **run.kwargs)
        except BaseException as e:  # noqa: BLE001
            meta.update(raised=type(e).__name__, raised_msg=first_line(e))
        else:
            meta.update(raised=None, returned=type(value).__name__)
        return run.observed(meta), run.out

    def run_plot(self, run: _Run) -> tuple[CaseReply, dict]:
        """plot: what the student's function drew, as data (``figure_data``)."""
        meta = {"status": Status.OK, **self.plot(run.fn, run.case, run.args, run.kwargs, run.detect, run.out)}
        if meta["status"] == Status.ERROR:
            return meta, {}
        return run.observed(meta), run.out

    def run_meta_device(self, run: _Run) -> tuple[CaseReply, dict]:
        return self.meta_device(run.fn, run.case), {}

    def plot(self, fn, case: dict, args: list, kwargs: dict, detect: Detectors, out_tensors: dict) -> dict:
        """Call the student's plot function on a fresh current figure and read what it drew.

        Only the figures opened here are closed afterwards, so that check(plot_attention) in a student's
        kernel leaves the student's own figures open.
        """
        import matplotlib.pyplot as plt

        before = set(plt.get_fignums())
        try:
            plt.figure()  # current, so that plt.gca() in the student's code draws on nothing of theirs
            ax_given = None
            if case.get("give_ax"):
                _, ax_given = plt.subplots()
                kwargs["ax"] = ax_given
            with detect:
                value = fn(*args, **kwargs)
            ax = ax_given if ax_given is not None and value is None else value
            try:
                ax = figure_data.axes_from_return(ax, getattr(fn, "__name__", "your function"))
            except TypeError as e:
                return {"status": Status.ERROR, "error": {"type": "TypeError", "msg": str(e), "tb": ""}}
            fig_meta, arrays = figure_data.describe_axes(ax)
            for name, arr in arrays.items():
                out_tensors[f"fig.{name}"] = self.torch.as_tensor(arr, dtype=self.torch.float64)
            return {
                "status": Status.OK,
                "figure": fig_meta,
                "drew_on_given_ax": ax_given is not None and ax is ax_given,
            }
        finally:
            for number in set(plt.get_fignums()) - before:
                plt.close(number)

    def call(self, run: _Run):
        """Call the student's function, or build their module, load the case's weights and call it."""
        torch = self.torch
        self.params = {}
        if run.case["kind"] == "call":
            with run.detect, run.recorder:
                return run.fn(*run.args, **run.kwargs)
        module = run.fn(*run.case.get("init", []))
        run.module, run.class_held = module, _class_containers(module, torch)
        module.to(device=run.device, dtype=getattr(torch, run.case["dtype"]))
        with torch.no_grad():
            for pname, tname in run.case.get("state", {}).items():
                self.params[pname] = module.get_parameter(pname)
                self.params[pname].copy_(run.tensors[tname])
        if "steps" not in run.case:
            with run.detect, run.recorder:
                return module(*run.args, **run.kwargs)
        counts: dict[str, int] = {}
        hooks = [
            layer.register_forward_hook(_token_counter(counts, name))
            for name in ("W_q", "W_k", "W_v")
            if isinstance(layer := getattr(module, name, None), torch.nn.Module)
        ]
        try:
            with run.detect, run.recorder:
                calls = self.steps(module, run)
        finally:
            for hook in hooks:
                hook.remove()
        run.projected = counts
        return _joined(torch, calls, run.args[0].shape[1])

    def steps(self, module, run: _Run) -> list:
        """The module fed its input `case["steps"]` tokens per call, as a model generates: one value per call."""
        x, start, calls = run.args[0], 0, []  # x (B, T, d_model)
        for n in run.case["steps"]:
            calls.append(module(x[:, start : start + n], **run.kwargs))  # the next n tokens only
            start += n
        return calls

    def arg(self, spec, tensors: dict, device: str):
        torch = self.torch
        if "t" in spec:
            t = tensors[spec["t"]].to(device)
            return t.requires_grad_(True) if spec.get("grad") else t
        if "v" in spec:
            return spec["v"]
        if "float" in spec:
            return float(spec["float"])  # "nan", "inf" and "-inf" arrive as strings
        if "device" in spec:
            return torch.device(spec["device"])
        raise ValueError(f"bad argument spec {spec!r}")

    def outputs(self, value, out_tensors: dict) -> dict:
        """Describe what the student returned; tensors go to the payload as outputs.0, outputs.1, ..."""
        items = list(value) if isinstance(value, tuple) else [value]
        described = []
        for i, item in enumerate(items):
            described.append(self.describe(item, f"out.{i}", out_tensors))
        return {"outputs": described, "tuple": isinstance(value, tuple)}

    def describe(self, item, name: str, out_tensors: dict) -> dict:
        torch = self.torch
        if not isinstance(item, torch.Tensor):
            return {"kind": "other", "type": type(item).__name__}
        with torch._C.DisableTorchFunctionSubclass():
            plain = torch.Tensor.as_subclass(item.detach(), torch.Tensor)
            info = {
                "kind": "tensor",
                "name": name,
                "dtype": str(plain.dtype).replace("torch.", ""),
                "shape": list(plain.shape),
                "device": plain.device.type,
                "requires_grad": bool(item.requires_grad),
                "subclass": type(item) is not torch.Tensor,
            }
            if plain.device.type != "meta":
                out_tensors[name] = plain.to("cpu").contiguous().clone()
        return info

    def grads(self, value, spec: dict, tensors: dict, device: str, args: list, params: dict, out_tensors: dict) -> dict:
        """Backward of the upstream gradients `spec["upstream"]` (one per output, or None)."""
        torch = self.torch
        items = list(value) if isinstance(value, tuple) else [value]
        outs, ups = [], []
        for item, up in zip(items, spec["upstream"]):
            if up is not None and isinstance(item, torch.Tensor) and item.requires_grad:
                outs.append(item)
                ups.append(tensors[up].to(device=item.device, dtype=item.dtype))
        wrt_names = [f"arg.{i}" for i in spec.get("args", [])] + [f"param.{p}" for p in params]
        wrt = [args[i] for i in spec.get("args", [])] + list(params.values())
        if not outs:
            return {"status": Status.NO_GRAPH, "names": wrt_names}
        # grad of sum(upstream * output): the same as passing grad_outputs, without the first-use cost
        # (a second of sympy imports) that torch pays for grad_outputs.
        total = sum((o * u).sum() for o, u in zip(outs, ups))
        got = torch.autograd.grad(total, wrt, allow_unused=True)
        present = []
        for name, g in zip(wrt_names, got):
            if g is not None:
                out_tensors[f"grad.{name}"] = g.detach().to("cpu").contiguous().clone()
                present.append(name)
        return {"status": Status.OK, "names": wrt_names, "present": present}

    def meta_device(self, fn, case: dict) -> dict:
        """Run on inputs that live on the meta device, with every aten op's devices watched.

        A tensor made without ``device=`` lands on the CPU; the first op that mixes it with a meta
        tensor is reported (plain meta kernels would accept ``meta @ cpu`` silently). This does what
        FakeTensorMode's device propagation does, without its first-use cost of importing
        torch._dynamo (a second per grading run).
        """
        torch = self.torch
        args = []
        for a in case["args"]:
            if "shape" in a:
                args.append(torch.empty(a["shape"], dtype=getattr(torch, a["dtype"]), device="meta"))
            elif "device" in a:
                args.append(torch.device(a["device"]))
            else:
                args.append(a["v"])
        kwargs = {
            k: (torch.device(a["device"]) if "device" in a else a["v"]) for k, a in case.get("kwargs", {}).items()
        }
        held: dict = {}
        try:
            if case.get("module"):
                with torch.device("meta"):
                    module = fn(*case["init"])
                held = _class_containers(module, torch)
            with self.device_discipline():
                value = module(*args, **kwargs) if case.get("module") else fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001
            grown = _grown(held, module, torch) if held else []
            return {
                "status": Status.OK,
                "meta_run": {"error": error_info(e)},
                **({"class_state": grown} if grown else {}),
            }
        items = list(value) if isinstance(value, tuple) else [value]
        devices = [str(getattr(i, "device", type(i).__name__)) for i in items]
        return {"status": Status.OK, "meta_run": {"devices": devices}}


# ----------------------------------------------------------------------------------------------- helpers


def _class_containers(module, torch) -> dict[str, int]:
    """The sizes of the lists, dicts and sets defined on the student's module class (not on torch's classes): state
    every instance shares, where a cache kept there carries one module's tokens into the next."""
    out = {}
    for cls in type(module).__mro__:
        if cls is object or cls.__module__.split(".")[0] == "torch":
            continue
        for name, value in vars(cls).items():
            if isinstance(value, (list, dict, set)) and name not in out:
                out[name] = len(value)
    return out


def _grown(held: dict, module, torch) -> list[str]:
    """The names of `held`'s containers that grew during the call and now hold tensors."""
    now = _class_containers(module, torch)
    out = []
    for name, size in held.items():
        value = getattr(type(module), name, None)
        items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, set)) else ()
        if now.get(name, size) > size and any(isinstance(v, torch.Tensor) for v in items):
            out.append(name)
    return out


def _class_grown(run, torch) -> dict:
    """{"class_state": [names]} where the module's class containers grew during the case; {} otherwise."""
    if getattr(run, "module", None) is None or not run.class_held:
        return {}
    grown = _grown(run.class_held, run.module, torch)
    return {"class_state": grown} if grown else {}


def _end_children(pid: int, keep: int | None = None) -> None:
    """Kill a task's child and everything it started, and reap them.

    As PID 1 of the worker's own PID namespace, every other process in it is the task's (daemons that
    left the child's group included) but `keep`, the spare; without one, the child's process group.
    """
    targets = [pid]
    if os.getpid() == 1:
        targets += [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, keep)]
    for target in targets:
        try:
            os.kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    while True:  # and the orphans that came to us (kill() counts PIDs in our own namespace: only ours)
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break


def _token_counter(counts: dict, name: str):
    """A forward hook that adds up the tokens a projection saw, per sequence: (B, n, d_model) -> n."""

    def hook(layer, inputs, output):
        x = inputs[0] if inputs else None
        if hasattr(x, "shape") and len(x.shape) >= 2:
            counts[name] = counts.get(name, 0) + int(x.shape[-2])

    return hook


def _joined(torch, calls: list, total: int) -> tuple:
    """(output (B, T, d), weights (B, T, T)) from the (output (B, n, d), weights (B, n, t)) of each call: the
    outputs joined along the sequence, each call's weights padded with zeros for the keys it had not seen."""
    pairs = []
    for i, value in enumerate(calls):
        if not (isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, torch.Tensor) for v in value)):
            raise TypeError(f"call {i + 1} of forward returned {type(value).__name__}, not a tuple (output, weights)")
        out, w = value
        if w.dim() < 1 or w.shape[-1] > total:
            raise ValueError(
                f"call {i + 1} of forward returned weights of shape {tuple(w.shape)}: more keys than "
                f"the {total} tokens of the whole sequence"
            )
        pairs.append((out, torch.nn.functional.pad(w, (0, total - w.shape[-1]))))
    return torch.cat([o for o, _ in pairs], dim=-2), torch.cat([w for _, w in pairs], dim=-2)


def _pack(out: dict) -> bytes:
    if not out:
        return b""
    from safetensors.torch import save

    return save(out)


def _same(torch, a, b) -> bool:
    """Unchanged: same shape, dtype and values, NaN where NaN was."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.device.type == "meta":
        return True
    return bool(torch.equal(a, b)) or (a.is_floating_point() and bool(((a == b) | (a.isnan() & b.isnan())).all()))


class _Run:
    """One case as a handler sees it: the student's callable, the arguments made from the case's spec, copies of
    them (to see what the call changed), the task's detectors and the callee recorder."""

    def __init__(self, worker: Worker, fn, case: dict, tensors: dict, detect: Detectors, callees: list[str]):
        self.worker, self.fn, self.case, self.tensors, self.detect = worker, fn, case, tensors, detect
        self.device = case.get("device", "cpu")
        self.out: dict = {}  # the tensors for the reply's payload
        self.projected: dict | None = None  # a stepped module case: the tokens each projection saw, all calls together
        self.module, self.class_held = None, {}  # a module case: the module, and its class's containers' sizes
        if case["kind"] == "meta_device":  # its arguments are shapes on the meta device, made by its handler
            return
        torch = worker.torch
        self.args = [worker.arg(a, tensors, self.device) for a in case.get("args", [])]
        self.kwargs = {k: worker.arg(a, tensors, self.device) for k, a in case.get("kwargs", {}).items()}
        self.before = [a.detach().clone() if isinstance(a, torch.Tensor) else None for a in self.args]
        self.recorder = worker.recorder(worker.ns, callees if case.get("record_callees") else [], torch, detect)

    def observed(self, meta: dict, mutated: bool = True) -> dict:
        """`meta` with what was seen around the call: inputs changed in place, forbidden calls, the op trace and
        the callees' calls."""
        torch = self.worker.torch
        if mutated:
            meta["mutated"] = [
                i
                for i, (a, b) in enumerate(zip(self.args, self.before))
                if b is not None and not _same(torch, a.detach(), b)
            ]
        meta["forbidden"], meta["evasion"] = self.detect.report()
        meta["callee_forbidden"], meta["trace"] = self.recorder.export_forbidden(), self.detect.trace()
        meta["callee_calls"] = self.recorder.export(self.out)
        return meta


#: `placeholders`' source, read while the zygote loads (the sandbox hides this folder from workers). It becomes
#: code only where a submission calls earlier(): a worker whose submission does not holds none of it.
_PLACEHOLDERS = (Path(__file__).parent / "placeholders.py").read_text(encoding="utf-8")
_stand_ins: dict = {}


def _earlier(name, here=None):
    """A submission's ``earlier(name)``: the grader's stand-in (`placeholders`)."""
    if not _stand_ins:
        exec(compile(_PLACEHOLDERS, "placeholders.py", "exec"), _stand_ins)
    return _stand_ins["earlier"](name, here)


#: case kind -> the Worker method that runs it (the judge's table is ``attnlab.judging.judge.KINDS``).
KINDS = {
    "call": Worker.run_value,
    "module": Worker.run_value,
    "expect_error": Worker.run_expect_error,
    "plot": Worker.run_plot,
    "meta_device": Worker.run_meta_device,
}
