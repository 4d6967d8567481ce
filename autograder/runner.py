"""The child side of the grader: load a student's submission and run calls on it. Nothing here judges.

This file runs as the zygote, ``python -I -c BOOT runner.py ZYGOTE_FD SANDBOX_JSON`` (``main``), loaded by
path as a module that no ``sys.modules`` holds (so it is not ``__main__``), and never imports the attnlab
package: the reference answers and the judge stay out of its memory. It loads its three helpers,
``wire.py``, ``confine.py`` and ``figure_data.py``, by file path.

Two roles:
- the **zygote** imports torch, numpy and matplotlib once, then waits. For every submission (and after
  a crash) the parent asks it for a fresh **worker**, which it forks. A worker is clean: it holds
  torch and this runner, and nothing of any other student. While torch loads, a throwaway child tries
  each layer of the sandbox (``confine.probe``); the ready message says which layers are active.
- a **worker** first confines itself (``confine.enter``: its own namespaces and filesystem view, no
  privileges, rlimits, Landlock and seccomp), then loads one submission and answers task requests from
  the parent over a private socket:
  for each case it calls the student's function on the tensors it was sent and sends back the outputs
  as plain tensors (safetensors bytes), with what it saw: exceptions, gradients, mutated inputs and
  calls to forbidden functions. The parent trusts none of this; it compares it with the reference.

Messages on the socket are described in ``wire.py``; the case format is documented in
``attnlab.cases``.
"""

from __future__ import annotations

import ctypes
import importlib.util
import io
import json
import os
import re
import signal
import socket
import sys
import time
import traceback
import types

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_sibling(name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"_attnlab_child_{name}", os.path.join(HERE, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


wire = _load_sibling("wire")
confine = _load_sibling("confine")

# ----------------------------------------------------------------------------------------------- zygote


class Sandbox:
    """The zygote's sandbox settings (from the parent: the mode and the paths to hide) and its probes.

    In "auto" mode two probes run side by side: the full sandbox and the fallback without namespaces.
    Where user namespaces turn out to be missing, workers get the fallback, and the fallback's report.
    """

    def __init__(self, config: dict):
        self.mode = config.get("mode", "auto")
        self.plan = confine.plan(config.get("hide", []))
        self.layers: dict = {}
        self.require: list[str] = []
        self.skip: dict[str, str] = {}
        self._probes: dict = {}
        self._scratch: dict[str, str] = {}  # mode -> the probe's workdir
        if self.mode != "off":
            scratch = os.path.join(config.get("root") or os.getcwd(), "probe")
            # Forked now, while this process has one thread: torch starts more.
            for mode in dict.fromkeys([self.mode, "landlock"]):
                workdir = os.path.join(scratch, mode)
                for d in ("work", "submission"):
                    os.makedirs(os.path.join(workdir, d))
                os.chmod(workdir, 0o711)
                with open(os.path.join(workdir, "submission", "probe.py"), "w") as f:
                    f.write("# the probe's stand-in for a submission\n")
                self._scratch[mode] = workdir
                self._probes[mode] = confine.probe(self.spec(workdir, 64, "probe.py", mode))

    def spec(self, workdir: str, memory_mb, submission, mode: str | None = None) -> dict:
        return {"mode": mode or self.mode, "plan": self.plan, "workdir": workdir, "memory_mb": memory_mb,
                "submission": submission, "require": self.require, "skip": self.skip}

    def wait(self) -> dict:
        if self._probes:
            results = {mode: probe.result() for mode, probe in self._probes.items()}
            if self.mode == "auto" and not results["auto"]["userns"][0]:
                self.mode = "landlock"
                results["landlock"]["userns"] = results["auto"]["userns"]  # why there are no namespaces
            self.layers = results[self.mode]
            # What the probe saw fail is not tried in a worker at all, so that no worker runs in a
            # half-built sandbox. Without it the rest is set up differently (no new root: the runtime is
            # read where it lies), so that is probed again, until what the probe sees is what workers get.
            for _ in range(3):
                skip = {k: why for k, (ok, why) in self.layers.items() if not ok}
                if skip.keys() <= self.skip.keys():
                    break
                self.skip = {**self.skip, **skip}
                self.layers = {**confine.probe(self.spec(self._scratch[self.mode], 64, "probe.py")).result(),
                               **{k: self.layers[k] for k in self.skip}}
            # What the probe saw working must work in every worker, or that worker refuses to run.
            self.require = [k for k, (ok, _) in self.layers.items() if ok and not k.startswith("rlimit")]
        else:
            self.layers = {k: [False, "switched off (ATTNLAB_SANDBOX=off)"] for k in confine.LAYERS}
        return self.layers


def zygote(fd: int, config: dict) -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    sandbox = Sandbox(config)
    import numpy  # noqa: F401  (pre-loaded so that every worker starts warm)
    import torch
    from safetensors.torch import load as _st_load  # noqa: F401

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401

    # Warm what every worker needs, so that each fork starts ready: both detector layers, once.
    with Detectors(torch, {"function": "^$", "aten": "^$"}), DeviceDiscipline(torch)():
        leaf = torch.ones(2, 2, requires_grad=True)
        torch.autograd.grad((leaf @ leaf).sum(), [leaf])
        meta = torch.empty(2, 3, 4, device="meta")  # meta kernels import sympy on first use
        (meta @ meta.transpose(-2, -1)).masked_fill(torch.ones(3, 3, dtype=torch.bool, device="meta"), 0).amax(-1)

    torch.set_num_threads(1)  # forked children of a multi-threaded torch deadlock otherwise
    gpu = gpu_info(torch)
    figure_data = _load_sibling("figure_data")
    ctl = socket.socket(fileno=fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped automatically
    wire.send(ctl, {"ready": True, "pid": os.getpid(), "cuda": bool(gpu.get("count")), "gpu": gpu,
                    "sandbox": sandbox.wait()})
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 1 << 16, 3)
        except OSError:
            return
        if not msg:
            return  # the parent went away: so do we
        request = json.loads(msg)
        if torch.cuda.is_initialized():  # a forked child cannot use a CUDA that its parent started
            raise RuntimeError("CUDA was initialised in the zygote: workers could not run cuda cases")
        pid = os.fork()
        if pid == 0:
            ctl.close()
            try:
                _become_worker(request, fds, figure_data, sandbox)
            finally:
                os._exit(0)
        for f in fds:
            os.close(f)
        ctl.sendall(json.dumps({"pid": pid}).encode())


def gpu_info(torch) -> dict:
    """{"count", "name", "memory_mb"} of the GPUs here, asked in a throwaway child; {} without CUDA.

    The zygote itself must never initialise CUDA: a child forked after that cannot use it ("Cannot
    re-initialize CUDA in forked subprocess"), and even ``torch.cuda.is_available()`` initialises the
    driver where NVML is missing. So a forked child asks, answers on a pipe and exits; each worker later
    starts CUDA itself.
    """
    if not torch.backends.cuda.is_built():
        return {}

    def ask() -> dict:
        if not torch.cuda.is_available():
            return {}
        props = torch.cuda.get_device_properties(0)
        return {"count": torch.cuda.device_count(), "name": props.name, "memory_mb": props.total_memory >> 20}

    answer = confine.Forked(ask).answer()
    if answer is None:
        return {"count": 0, "error": "the GPU probe died"}
    return {"count": 0, **answer} if "error" in answer else answer


def _become_worker(request: dict, fds: list[int], figure_data, sandbox: Sandbox) -> None:
    chan_fd, out_fd, err_fd = fds
    os.setsid()  # own process group: the parent kills the whole group when a task ends badly
    try:  # die with the zygote, whatever happens to the parent
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    os.close(out_fd)
    os.close(err_fd)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0), write_through=True)
    try:
        confined = confine.enter(sandbox.spec(request["workdir"], request.get("memory_mb"), request.get("submission")))
    except Exception as e:  # noqa: BLE001 - never run student code in a weaker sandbox than promised
        print(f"attnlab: the grader's sandbox could not be set up: {type(e).__name__}: {e}", file=sys.stderr)
        os._exit(70)
    Worker(socket.socket(fileno=chan_fd), figure_data, confined["submission"], request.get("gpu_memory_mb")).serve()


# ----------------------------------------------------------------------------------------------- worker


class Worker:
    """Serves one submission: a `load` request, then `run` requests, each in a child forked from the loaded
    submission (`run_forked`), one reply frame per case."""

    def __init__(self, chan: socket.socket, figure_data, private_copy: str | None = None,
                 gpu_memory_mb: int | None = None):
        import torch

        self.torch = torch
        self.chan = chan
        self.figure_data = figure_data
        self.private_copy = private_copy  # the read-only copy of the submission, for __file__
        self.gpu_memory_mb = gpu_memory_mb  # the cap this worker puts on its GPU memory before a cuda case
        self.ns: dict = {}
        # Bound before any student code loads: each task's detectors and callee recorder are made from these,
        # never from module names looked up when the task runs, which a submission could have rebound.
        _torch_kit(torch)
        self.detectors, self.recorder, self.device_discipline = Detectors, CalleeRecorder, DeviceDiscipline(torch)

    def serve(self) -> None:
        while True:
            try:
                header, payload = wire.recv(self.chan)
            except wire.ChannelClosed:
                return
            op = header.get("op")
            if op == "load":
                self.load(header)
            elif op == "run":
                self.run_forked(header, payload)
            elif op == "bye":
                return

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
        mine, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            try:
                mine.close()
                self.chan.close()
                self.chan = theirs
                os.setpgid(0, 0)  # its own group: what it starts dies with it, where there is no PID namespace
                self.run(header, payload)
            finally:
                os._exit(0)
        theirs.close()
        seconds = header.get("seconds")
        deadline = time.monotonic() + float(seconds) if seconds else None
        try:
            while True:
                try:
                    frame, blob = wire.recv(mine, deadline)
                except wire.Deadline:
                    wire.send(self.chan, {"op": "timeout"})
                    return
                except (wire.ChannelClosed, wire.ChannelCorrupt):
                    wire.send(self.chan, {"op": "crashed"})
                    return
                wire.send(self.chan, frame, blob)
                if frame.get("op") == "done":
                    return
        finally:
            mine.close()
            _end_children(pid)

    # -- loading

    def load(self, header: dict) -> None:
        # The lessons call `check(...)` for instant feedback. Here that would run the judge inside the
        # student's process; a stub makes it a no-op, and `import attnlab.reference` fails.
        stub = types.ModuleType("attnlab", "attnlab as the trusted grader's child sees it: check() does nothing here.")
        stub.check = lambda *args, **kwargs: None
        sys.modules["attnlab"] = stub
        ns = {"__name__": "submission", "__file__": self.private_copy or header["filename"],
              "__builtins__": __builtins__}
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
                wire.send(self.chan, {"op": "cell", "index": index})  # so the parent knows which cell it was
            try:
                code = compile(cell, f"{header['filename']}" + (f" [cell {index + 1}]" if header["notebook"] else ""), "exec")
                exec(code, self.ns)
            except BaseException as e:  # noqa: BLE001 - a scratch cell that raises must not stop grading
                errors.append({"cell": index + 1, "type": type(e).__name__, "msg": _short(e), "tb": _tb(e)})
                if not header["notebook"]:
                    break
        names = sorted(n for n in header["names"] if n in self.ns)
        wire.send(self.chan, {"op": "loaded", "names": names, "errors": errors})

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
                meta, out = {"status": "error", "error": _err(e)}, {}
            meta.update(id=case["id"], seconds=time.perf_counter() - t0)
            wire.send(self.chan, {"op": "case", **meta}, _pack(out))
        wire.send(self.chan, {"op": "done"})

    def cap_gpu_memory(self) -> None:
        """Start CUDA here (never in the zygote) and cap what this worker may take of the GPU's memory."""
        cuda = self.torch.cuda
        total = cuda.get_device_properties(0).total_memory
        cuda.set_per_process_memory_fraction(min(1.0, self.gpu_memory_mb * (1 << 20) / total), 0)
        self.gpu_memory_mb = None  # once per process (each task's child, or the worker where it runs tasks itself)

    def run_case(self, fn, case: dict, tensors: dict, detect: "Detectors", callees: list[str]):
        torch = self.torch
        if fn is None:
            return {"status": "missing"}, {}
        device = case.get("device", "cpu")
        kind = case["kind"]
        if kind == "meta_device":
            return self.meta_device(fn, case), {}
        args = [self.arg(a, tensors, device) for a in case.get("args", [])]
        kwargs = {k: self.arg(a, tensors, device) for k, a in case.get("kwargs", {}).items()}
        before = [a.detach().clone() if isinstance(a, torch.Tensor) else None for a in args]
        recorder = self.recorder(self.ns, callees if case.get("record_callees") else [], torch, detect)
        out_tensors: dict = {}
        meta: dict = {"status": "ok"}
        if kind == "plot":
            meta.update(self.plot(fn, case, args, kwargs, detect, out_tensors))
            if meta["status"] == "error":
                return meta, {}
        elif kind in ("module", "call"):
            try:
                value = self.call(fn, case, kind, args, kwargs, device, tensors, detect, recorder)
            except BaseException as e:  # noqa: BLE001 - the student's exceptions are data
                meta = {"status": "error", "error": _err(e)}
                meta["callee_calls"] = recorder.export(out_tensors)
                meta["forbidden"], meta["evasion"] = detect.report()
                meta["callee_forbidden"], meta["trace"] = recorder.export_forbidden(), detect.trace()
                return meta, out_tensors
            meta.update(self.outputs(value, out_tensors))
            if case.get("grad"):
                try:
                    meta["grads"] = self.grads(value, case["grad"], tensors, device, args, self.params, out_tensors)
                except BaseException as e:  # noqa: BLE001
                    meta["grads"] = {"status": "error", "error": _err(e)}
        elif kind == "expect_error":
            try:
                with detect:
                    value = fn(*args, **kwargs)
            except BaseException as e:  # noqa: BLE001
                meta["raised"] = type(e).__name__
                meta["raised_msg"] = _short(e)
            else:
                meta["raised"] = None
                meta["returned"] = type(value).__name__
        else:
            raise ValueError(f"unknown case kind {kind!r}")
        meta["mutated"] = [
            i for i, (a, b) in enumerate(zip(args, before))
            if b is not None and not _same(torch, a.detach(), b)
        ]
        meta["forbidden"], meta["evasion"] = detect.report()
        meta["callee_forbidden"], meta["trace"] = recorder.export_forbidden(), detect.trace()
        meta["callee_calls"] = recorder.export(out_tensors)
        return meta, out_tensors

    def plot(self, fn, case: dict, args: list, kwargs: dict, detect: "Detectors", out_tensors: dict) -> dict:
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
                ax = self.figure_data.axes_from_return(ax)
            except TypeError as e:
                return {"status": "error", "error": {"type": "TypeError", "msg": str(e), "tb": ""}}
            fig_meta, arrays = self.figure_data.describe_axes(ax)
            for name, arr in arrays.items():
                out_tensors[f"fig.{name}"] = self.torch.as_tensor(arr, dtype=self.torch.float64)
            return {"status": "ok", "figure": fig_meta, "drew_on_given_ax": ax_given is not None and ax is ax_given}
        finally:
            for number in set(plt.get_fignums()) - before:
                plt.close(number)

    def call(self, fn, case, kind, args, kwargs, device, tensors, detect, recorder):
        """Call the student's function, or build their module, load the case's weights and call it."""
        torch = self.torch
        self.params = {}
        if kind == "call":
            with detect, recorder:
                return fn(*args, **kwargs)
        module = fn(*case.get("init", []))
        module.to(device=device, dtype=getattr(torch, case["dtype"]))
        with torch.no_grad():
            for pname, tname in case.get("state", {}).items():
                self.params[pname] = module.get_parameter(pname)
                self.params[pname].copy_(tensors[tname])
        with detect, recorder:
            return module(*args, **kwargs)

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
            return {"status": "no_graph", "names": wrt_names}
        # grad of sum(upstream * output): the same as passing grad_outputs, without the first-use cost
        # (a second of sympy imports) that torch pays for grad_outputs.
        total = sum((o * u).sum() for o, u in zip(outs, ups))
        got = torch.autograd.grad(total, wrt, allow_unused=True)
        present = []
        for name, g in zip(wrt_names, got):
            if g is not None:
                out_tensors[f"grad.{name}"] = g.detach().to("cpu").contiguous().clone()
                present.append(name)
        return {"status": "ok", "names": wrt_names, "present": present}

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
        kwargs = {k: (torch.device(a["device"]) if "device" in a else a["v"]) for k, a in case.get("kwargs", {}).items()}
        try:
            if case.get("module"):
                with torch.device("meta"):
                    module = fn(*case["init"])
            with self.device_discipline():
                value = module(*args, **kwargs) if case.get("module") else fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001
            return {"status": "ok", "meta_run": {"error": _err(e)}}
        items = list(value) if isinstance(value, tuple) else [value]
        devices = [str(getattr(i, "device", type(i).__name__)) for i in items]
        return {"status": "ok", "meta_run": {"devices": devices}}


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
        from torch.utils._pytree import tree_leaves
        from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode_stack

        _KIT.update(Tensor=torch.Tensor, TorchFunctionMode=TorchFunctionMode, TorchDispatchMode=TorchDispatchMode,
                    function_stack=_get_current_function_mode_stack, dispatch_stack=_get_current_dispatch_mode_stack,
                    tree_leaves=tree_leaves)
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
            devices = {t.device.type for t in tree_leaves((args, kwargs))
                       if isinstance(t, Tensor) and not (t.dim() == 0 and t.device.type == "cpu")}
            if len(devices) > 1:
                raise RuntimeError(f"{func.overloadpacket.__name__} mixes tensors on different devices: {', '.join(sorted(devices))}")
            return func(*args, **kwargs)

    return _DeviceDiscipline


class CalleeRecorder:
    """While a caller task runs, wrap the student's own callee functions to record (args, result), and the
    forbidden calls the detectors saw inside each.

    The parent replays these records through the reference caller, to tell a caller's own mistake
    from one it inherited from a callee. It decides whose a callee's forbidden call is: the callee's task
    answers for it only where that task was graded in the same run (``attnlab.forbidden.excused``).
    """

    def __init__(self, ns: dict, names: list[str], torch, detect: "Detectors"):
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
                calls.append({"name": name, "args": [enc(a, f"callee.{c}.arg.{i}") for i, a in enumerate(args)],
                              "kwargs": {}, "result": [], "tuple": False, "raised": _err(result)})
                continue
            results = result if isinstance(result, tuple) else (result,)
            calls.append({
                "name": name,
                "args": [enc(a, f"callee.{c}.arg.{i}") for i, a in enumerate(args)],
                "kwargs": {k: enc(v, f"callee.{c}.kw.{k}") for k, v in kwargs.items()},
                "result": [enc(r, f"callee.{c}.out.{i}") for i, r in enumerate(results)],
                "tuple": isinstance(result, tuple),
            })
        return calls


class Detectors:
    """Forbidden-call detection in two runtime layers: torch's function layer and its dispatcher.

    `names` are regular expressions made by the parent from course.yml (``attnlab.forbidden``). A
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
        return {"ops": sorted(self.ops)[:TRACE_OPS], "dispatch": self.counts["dispatch"],
                "function": self.counts["function"]}

    def report(self) -> tuple[list, bool]:
        hits = sorted(set(self.hits))
        self.hits.clear()
        evasion, self.evasion = self.evasion, False
        return hits, evasion


# ----------------------------------------------------------------------------------------------- helpers


def _end_children(pid: int) -> None:
    """Kill a task's child and everything it started, and reap them.

    As PID 1 of the worker's own PID namespace, every other process in it is the task's (daemons that
    left the child's group included); without one, the child's process group.
    """
    targets = [pid]
    if os.getpid() == 1:
        targets += [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != 1]
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


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else "")[:300]


def _tb(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    student = [f for f in frames if f.filename != __file__ and "site-packages" not in f.filename]
    lines = traceback.format_list(student[-3:])
    return "".join(lines)[-1500:]


def _err(e: BaseException) -> dict:
    frames = [f.name for f in traceback.extract_tb(e.__traceback__) if f.filename != __file__ and "site-packages" not in f.filename]
    return {"type": type(e).__name__, "msg": _short(e), "tb": _tb(e), "frames": frames}


def main(argv: list[str]) -> None:
    """The zygote's entry: ``python -I -c BOOT runner.py FD CONFIG`` (see ``attnlab.sandbox.BOOT``).

    BOOT loaded this file as a module that no ``sys.modules`` holds; its own names are dropped from
    ``__main__`` here, so that ``__main__`` holds nothing of the grader's in any worker.
    """
    boot = sys.modules["__main__"].__dict__
    for name in [n for n in boot if not n.startswith("__")]:
        del boot[name]
    zygote(int(argv[0]), json.loads(argv[1]) if len(argv) > 1 else {})


if __name__ == "__main__":  # python -I runner.py FD CONFIG, by hand
    zygote(int(sys.argv[1]), json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
