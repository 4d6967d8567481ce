"""The zygote: the warm, clean process from which every worker is forked. Nothing here judges.

It runs as ``python -I -c BOOT CHILD_DIR FD CONFIG`` (``attnlab.running.processes.BOOT``), which loads
this folder, ``child/``, as a package of its own that holds nothing of the trusted side: not the
attnlab package, the reference answers or the judge. Once all of it is loaded, `zygote` drops the child
package from ``sys.modules``, so that no name of the grader's is reachable that way from student code.

The zygote imports torch, numpy and matplotlib's core once, then waits. For every submission (and after a
crash) the parent asks it for a fresh worker (``worker.Worker``), which it forks. While torch loads, a
throwaway child tries each layer of the sandbox (``confine.probe``); the ready message says which
layers are active. What only some tasks need comes later: matplotlib's drawing modules once a second
worker is asked for, so that the first one starts sooner.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import select
import signal
import socket
import sys
from collections.abc import Callable
from functools import partial

from . import confine, wire
from .detectors import Detectors, DeviceDiscipline

PACKAGE = __package__  # "_attnlab_child", as BOOT names this folder


class Probes:
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
        return {
            "mode": mode or self.mode,
            "plan": self.plan,
            "workdir": workdir,
            "memory_mb": memory_mb,
            "submission": submission,
            "require": self.require,
            "skip": self.skip,
        }

    def wait(self, cuda_inside: Callable[[dict], str] | None = None) -> dict:
        """The layers workers get. `cuda_inside(spec)`, where this machine has a GPU: '' where CUDA starts in a
        child confined by `spec`, else why not; where it cannot start inside the namespaces (gVisor's GPU proxy,
        say) but the fallback without them exists, workers get the fallback, and correct cuda work its marks."""
        if self._probes:
            results = {mode: probe.result() for mode, probe in self._probes.items()}
            if self.mode == "auto" and not results["auto"]["userns"][0]:
                self.mode = "landlock"
                results["landlock"]["userns"] = results["auto"]["userns"]  # why there are no namespaces
            elif self.mode == "auto" and cuda_inside is not None:
                why = cuda_inside(self.spec(self._scratch["auto"], None, "probe.py"))
                if why:
                    self.mode = "landlock"
                    results["landlock"]["userns"] = [
                        False,
                        f"CUDA cannot start inside the namespaces here ({why[:160]}); the fallback without them runs",
                    ]
            self.layers = results[self.mode]
            # What the probe saw fail is not tried in a worker at all, so that no worker runs in a
            # half-built sandbox. Without it the rest is set up differently (no new root: the runtime is
            # read where it lies), so that is probed again, until what the probe sees is what workers get.
            for _ in range(3):
                skip = {k: why for k, (ok, why) in self.layers.items() if not ok}
                if skip.keys() <= self.skip.keys():
                    break
                self.skip = {**self.skip, **skip}
                self.layers = {
                    **confine.probe(self.spec(self._scratch[self.mode], 64, "probe.py")).result(),
                    **{k: self.layers[k] for k in self.skip},
                }
            # What the probe saw working must work in every worker, or that worker refuses to run.
            self.require = [k for k, (ok, _) in self.layers.items() if ok and not k.startswith("rlimit")]
        else:
            self.layers = {k: [False, "switched off (ATTNLAB_SANDBOX=off)"] for k in confine.LAYERS}
        return self.layers


def zygote(fd: int, config: dict) -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    sandbox = Probes(config)
    torch, worker_class, warm_drawing = _warm()
    gpu = gpu_info(torch)
    ctl = socket.socket(fileno=fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped automatically
    layers = sandbox.wait(partial(cuda_inside, torch) if gpu.get("count") else None)
    wire.send(ctl, {"ready": True, "pid": os.getpid(), "cuda": bool(gpu.get("count")), "gpu": gpu, "sandbox": layers})
    _forget_child_package()
    _serve(ctl, torch, worker_class, sandbox, later=[warm_drawing])


def _warm():
    """Import and warm what every worker needs, so that each fork starts ready: (torch, the Worker class, the
    drawing warm-up). The child package's modules are imported here, before it leaves sys.modules."""
    import matplotlib
    import numpy  # noqa: F401  (pre-loaded so that every worker starts warm)
    import torch
    from safetensors.torch import load as _st_load  # noqa: F401

    matplotlib.use("Agg")
    # matplotlib finds its configuration and font cache in the user's folders, which no worker sees: so here.
    import matplotlib.font_manager  # noqa: F401
    import matplotlib.style  # noqa: F401  (and its style library: where no namespace hides $HOME, nobody cannot)

    from .figure_data import warm_drawing
    from .worker import Worker

    # Both detector layers, once. No backward pass: where CUDA is built, autograd would start its device threads
    # here, and no forked worker could run one.
    with Detectors(torch, {"function": "^$", "aten": "^$"}), DeviceDiscipline(torch)():
        leaf = torch.ones(2, 2, requires_grad=True)
        (leaf @ leaf).sum()
        meta = torch.empty(2, 3, 4, device="meta")  # on the CPU stand-ins (detectors.StandIns)
        (meta @ meta.transpose(-2, -1)).masked_fill(torch.ones(3, 3, dtype=torch.bool, device="meta"), 0).amax(-1)

    torch.set_num_threads(1)  # forked children of a multi-threaded torch deadlock otherwise
    return torch, Worker, warm_drawing


def _serve(ctl: socket.socket, torch, worker_class, sandbox, later: list) -> None:
    """Fork a worker for each request until the parent goes away.

    What only some tasks need (matplotlib's drawing modules, `later`) is not loaded before the first worker: that
    one starts sooner and loads them beside its first tasks (``worker.Worker.fork_spare``). Once a second worker
    is asked for (a class, or a restart), they are loaded here, whenever no request waits, for the next ones.
    """
    forked = 0
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
                _become_worker(worker_class, request, fds, sandbox)
            finally:
                os._exit(0)
        for f in fds:
            os.close(f)
        ctl.sendall(json.dumps({"pid": pid}).encode())
        forked += 1
        while forked > 1 and later and not select.select([ctl], [], [], 0)[0]:
            try:
                later.pop(0)()
            except Exception:  # noqa: BLE001 - then each worker loads it when a task needs it
                pass


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


def cuda_inside(torch, spec: dict) -> str:
    """'' where a child confined by `spec` can start CUDA and run one op on the GPU; else why not, in one line.
    Asked in a throwaway child, like `gpu_info`: the zygote itself never starts CUDA."""

    def ask() -> dict:
        confine.enter(spec)
        torch.ones(1, device="cuda").add_(1).item()
        return {}

    answer = confine.Forked(ask).answer()
    if answer is None:
        return "the probe process died"
    return str(answer.get("error", "")).splitlines()[0] if answer.get("error") else ""


def _become_worker(worker_class, request: dict, fds: list[int], sandbox: Probes) -> None:
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
    worker_class(socket.socket(fileno=chan_fd), confined["submission"], request.get("gpu_memory_mb")).serve()


def main(argv: list[str]) -> None:
    """The zygote's entry: ``python -I -c BOOT CHILD_DIR FD CONFIG`` (``attnlab.running.processes.BOOT``).

    BOOT's own names are dropped from ``__main__`` here, so that ``__main__`` holds nothing of the grader's in
    any worker; `zygote` drops the child package from ``sys.modules`` once it has loaded all of it.
    """
    boot = sys.modules["__main__"].__dict__
    for name in [n for n in boot if not n.startswith("__")]:
        del boot[name]
    zygote(int(argv[0]), json.loads(argv[1]) if len(argv) > 1 else {})


def _forget_child_package() -> None:
    """Take this package out of ``sys.modules``: student code finds no grader module by name there."""
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]
