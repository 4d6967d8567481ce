"""The parent's handle on the child processes that run student code.

``Zygote`` starts ``python -I -c BOOT CHILD_DIR`` with a clean environment in a throwaway directory. That
process imports torch once and forks a fresh worker (``child/worker.py``) per submission, which loads it
once and runs each task in a child of its own; a new worker is forked only when one dies or stops
answering itself. The zygote loads only the child zone (``child/``): it never loads student code, and
never imports the reference or the judge, so a worker inherits nothing worth stealing.
`WorkerProcess` is the parent's handle on one worker.

Each worker confines itself before it loads anything (``child/confine``): it sees only the Python runtime,
``/usr`` and ``/etc`` (read-only), a read-only copy of its submission at ``/submission/<name>`` and a
throwaway ``/work``; it has no network, no privileges and bounded resources, and all its processes die
with it. The zygote reports which layers of that sandbox this machine allows (``Zygote.sandbox``,
``attnlab doctor``); when one is missing, the first `ready()` of the process prints one warning line.
``ATTNLAB_SANDBOX=off`` switches the sandbox off, for debugging; ``landlock`` uses the fallback that a
machine without user namespaces gets.

Each worker gets its own private socket for results (student output on stdout means nothing) and two
pipes for its stdout and stderr, of which the parent keeps only the first ``output_kb``.

This module must stay light (no torch): the CLI starts the zygote before it imports torch itself, so
that the two imports overlap.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..child import wire
from ..child.confine import LAYERS, MODES

CHILD = Path(__file__).resolve().parent.parent / "child"
# The zygote's __main__: loads child/ as a package of its own, "_attnlab_child", that holds nothing of the
# trusted side, and hands over to its zygote (which then takes the package out of sys.modules again).
LOAD_CHILD = (
    "import importlib, importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location("
    "'_attnlab_child', sys.argv[1] + '/__init__.py', submodule_search_locations=[sys.argv[1]])\n"
    "child = importlib.util.module_from_spec(spec)\n"
    "sys.modules['_attnlab_child'] = child\n"
    "spec.loader.exec_module(child)\n"
)
BOOT = LOAD_CHILD + "importlib.import_module('_attnlab_child.zygote').main(sys.argv[2:])\n"
OUTPUT_LAYER = "output"
LAYER_NAMES = {**LAYERS, OUTPUT_LAYER: "output caps"}
_warned = False  # one warning about a weaker sandbox per process


def hidden_paths() -> list[str]:
    """What no worker may see: this package, the reference answers and the project checkout holding them."""
    paths = []
    for name in ("attnlab", "attnlab.reference"):
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        if spec.submodule_search_locations:
            paths += list(spec.submodule_search_locations)
        elif spec.origin:
            paths.append(spec.origin)
    for path in list(paths):
        parent = Path(path).resolve().parent
        if (parent / "pyproject.toml").exists():  # a checkout (an editable install), not site-packages
            paths.append(str(parent))
    return sorted(set(paths))


def default_jobs() -> int:
    """The cores this process may use: how many workers `attnlab grade --jobs` runs side by side by default."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


def sandbox_mode(mode: str | None = None) -> str:
    mode = mode or os.environ.get("ATTNLAB_SANDBOX", "") or "auto"
    if mode not in MODES:
        raise ValueError(f"ATTNLAB_SANDBOX={mode!r}: choose from {', '.join(MODES)}")
    return mode


def _remove(path: Path) -> None:
    """rmtree, after opening up the read-only submission/ folders inside (which would stop a non-root user)."""
    for sub in path.glob("**/submission"):
        try:
            sub.chmod(0o755)
        except OSError:
            pass
    shutil.rmtree(path, ignore_errors=True)


def _private_copy(submission) -> tuple[str, bytes]:
    """(file name, bytes) of the copy a worker sees at /submission/<name>: the text graded, from memory.

    For a notebook, never the file's bytes: nbgrader's autograde has put the hidden tests back into the
    notebook it grades, and its outputs may hold anything. The copy is the notebook as the loader read
    it, with every test cell's source emptied and no outputs (``submission.worker_view``).
    """
    from .submission import worker_notebook

    name = Path(submission.path).name
    if name in ("", ".", ".."):
        name = "submission.py"
    if submission.notebook:
        return name, json.dumps(worker_notebook(submission), indent=1, ensure_ascii=False).encode()
    return name, submission.cells[0].encode()


def clean_env() -> dict[str, str]:
    """The child's whole environment: no PYTHONPATH, no secrets, no display."""
    # LD_LIBRARY_PATH is where many GPU machines keep the driver's libcuda (/usr/local/nvidia/lib64).
    keep = {
        k: os.environ[k]
        for k in ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "LD_LIBRARY_PATH")
        if k in os.environ
    }
    keep.update(
        MPLBACKEND="Agg",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="0",
        OMP_NUM_THREADS="1",
        # torch.cuda.is_available() through NVML, without starting the driver (workers are forked)
        PYTORCH_NVML_BASED_CUDA_CHECK="1",
    )
    return keep


class OutputTap:
    """Drains a pipe in a thread, keeping the first `limit` bytes so a flood can neither block nor fill memory."""

    def __init__(self, fd: int, limit: int):
        self.limit, self.data, self.dropped = limit, bytearray(), 0
        self._file = os.fdopen(fd, "rb", buffering=0)
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while chunk := self._file.read(65536):
            room = self.limit - len(self.data)
            self.data += chunk[: max(room, 0)]
            self.dropped += max(len(chunk) - max(room, 0), 0)
        self._file.close()

    def text(self, wait: float = 0.5) -> str:
        self._thread.join(wait)
        tail = f"\n[... {self.dropped} more bytes of output dropped]" if self.dropped else ""
        return self.data.decode("utf-8", "replace") + tail


class Zygote:
    """A warm, clean process that forks workers. Start it early; `ready()` waits for its torch import.

    `sandbox` is "auto" (the strongest this machine allows), "landlock" (the fallback without
    namespaces) or "off"; by default $ATTNLAB_SANDBOX, else "auto". With `warn`, the first `ready()` in
    this process prints one line on stderr if any layer is missing here.
    """

    def __init__(self, sandbox: str | None = None, *, warn: bool = True):
        self.mode = sandbox_mode(sandbox)
        self.warn = warn
        self.workroot = Path(tempfile.mkdtemp(prefix="attnlab-"))
        self.workroot.chmod(0o711)  # a worker that is nobody may reach its own folder, and list none
        parent_sock, child_sock = socket.socketpair()
        self.ctl = parent_sock
        # The work root also marks the command line of this zygote and of every worker forked from it.
        config = json.dumps({"mode": self.mode, "hide": hidden_paths(), "root": str(self.workroot)})
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", BOOT, str(CHILD), str(child_sock.fileno()), config],
            pass_fds=[child_sock.fileno()],
            env=clean_env(),
            cwd=self.workroot,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        child_sock.close()
        self.info: dict | None = None
        self._lock = threading.Lock()
        self._n = 0

    def ready(self, timeout: float = 120.0) -> dict:
        if self.info is None:
            try:
                self.info, _ = wire.recv(self.ctl, time.monotonic() + timeout)
            except (wire.ChannelClosed, wire.Deadline):
                err = (
                    self.proc.stderr.read().decode(errors="replace").strip().splitlines()
                    if self.proc.poll() is not None
                    else []
                )
                raise RuntimeError(
                    "the grader's child process did not start: " + (err[-1] if err else "no answer")
                ) from None
            self._warn()
        return self.info

    @property
    def sandbox(self) -> dict[str, tuple[bool, str]]:
        """Each layer of the workers' sandbox: (active, one line on why or how)."""
        layers = {k: tuple(v) for k, v in self.ready().get("sandbox", {}).items()}
        layers[OUTPUT_LAYER] = (True, "the parent keeps the first limits.output_kb of stdout and of stderr")
        return {k: layers.get(k, (False, "not reported")) for k in LAYER_NAMES}

    def _warn(self) -> None:
        global _warned
        # Started as another user than root, there is nothing to drop: that is no weakness.
        missing = [k for k, (ok, _) in self.sandbox.items() if not ok and (k != "nobody" or os.geteuid() == 0)]
        if _warned or not missing or not self.warn:
            return
        _warned = True
        if self.mode == "off":
            line = "switched off by ATTNLAB_SANDBOX=off; student code runs with your permissions"
        else:
            active = [
                LAYER_NAMES[k] for k, (ok, _) in self.sandbox.items() if ok and not k.startswith(("rlimit", "output"))
            ]
            line = (
                f"no {', '.join(LAYER_NAMES[k] for k in missing)} here ({self.sandbox[missing[0]][1]}); "
                f"using {' + '.join(active) or 'rlimits only'}"
            )
        print(f"attnlab: sandbox: {line}; run `attnlab doctor` for details", file=sys.stderr)

    @property
    def cuda(self) -> bool:
        return bool(self.ready().get("cuda"))

    @property
    def gpu(self) -> dict:
        """{"count", "name", "memory_mb"} of this machine's GPUs as the zygote saw them; {} without one."""
        return dict(self.ready().get("gpu") or {})

    def spawn(self, memory_mb: int, output_kb: int, submission=None, gpu_memory_mb: int | None = None) -> WorkerProcess:
        """A fresh worker. With `submission` (an ``attnlab.running.submission.Submission``), the worker sees a
        read-only copy of the graded text at ``/submission/<name>``, and ``__file__`` points there.
        `gpu_memory_mb` caps the GPU memory it may take once it runs a cuda case."""
        self.ready()
        with self._lock:
            self._n += 1
            workdir = self.workroot / f"w{self._n}"
            for d in (workdir, workdir / "work", workdir / "submission"):
                d.mkdir()
            workdir.chmod(0o711)
            name = None
            if submission is not None:
                name, text = _private_copy(submission)
                copy = workdir / "submission" / name
                copy.write_bytes(text)
                copy.chmod(0o444)
            (workdir / "submission").chmod(0o555)
            chan_parent, chan_child = socket.socketpair()
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            request = json.dumps(
                {"workdir": str(workdir), "memory_mb": memory_mb, "submission": name, "gpu_memory_mb": gpu_memory_mb}
            ).encode()
            socket.send_fds(self.ctl, [request], [chan_child.fileno(), out_w, err_w])
            for f in (out_w, err_w):
                os.close(f)
            chan_child.close()
            self.ctl.settimeout(30)
            pid = json.loads(self.ctl.recv(4096))["pid"]
        return WorkerProcess(
            pid, chan_parent, workdir, OutputTap(out_r, output_kb * 1024), OutputTap(err_r, output_kb * 1024)
        )

    def close(self) -> None:
        # The zygote holds nothing worth a clean exit, and torch's interpreter shutdown costs a second.
        try:
            self.ctl.close()
            self.proc.kill()
            self.proc.wait()
        finally:
            if self.proc.stderr:
                self.proc.stderr.close()
            _remove(self.workroot)

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class WorkerProcess:
    """The parent's handle on one forked worker serving one submission. `kill()` ends its whole process group."""

    def __init__(self, pid: int, chan: socket.socket, workdir: Path, out: OutputTap, err: OutputTap):
        self.pid, self.chan, self.workdir, self.out, self.err = pid, chan, workdir, out, err
        self.dead = False

    def send(self, header: dict, payload: bytes = b"") -> None:
        try:
            wire.send(self.chan, header, payload)
        except OSError:
            raise wire.ChannelClosed() from None

    def recv(self, deadline: float) -> tuple[dict, bytes]:
        return wire.recv(self.chan, deadline)

    def kill(self) -> None:
        if self.dead:
            return
        self.dead = True
        for target in (lambda: os.killpg(self.pid, signal.SIGKILL), lambda: os.kill(self.pid, signal.SIGKILL)):
            try:
                target()
            except (ProcessLookupError, PermissionError):
                pass
        self.chan.close()
        _remove(self.workdir)

    def output(self) -> str:
        """What the student's code printed (stdout then stderr), capped."""
        parts = [t for t in (self.out.text(), self.err.text()) if t.strip()]
        return "\n".join(parts)
