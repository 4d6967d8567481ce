"""The parent's handle on the child processes that run student code.

``Zygote`` starts ``python -I runner.py`` with a clean environment in a throwaway directory. That
process imports torch once and forks a fresh ``Worker`` per submission, and again after a crash or a
timeout. The zygote never loads student code, and it never imports the reference or the judge, so a
worker inherits nothing worth stealing.

Each worker gets its own private socket for results (student output on stdout means nothing) and two
pipes for its stdout and stderr, of which the parent keeps only the first ``output_kb``.

This module must stay light (no torch): the CLI starts the zygote before it imports torch itself, so
that the two imports overlap.
"""

from __future__ import annotations

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

from . import wire

RUNNER = Path(__file__).resolve().parent / "runner.py"


def clean_env() -> dict[str, str]:
    """The child's whole environment: no PYTHONPATH, no secrets, no display."""
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES") if k in os.environ}
    keep.update(MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0", OMP_NUM_THREADS="1")
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
    """A warm, clean process that forks workers. Start it early; `ready()` waits for its torch import."""

    def __init__(self):
        self.workroot = Path(tempfile.mkdtemp(prefix="attnlab-"))
        parent_sock, child_sock = socket.socketpair()
        self.ctl = parent_sock
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(RUNNER), str(child_sock.fileno())],
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
                err = self.proc.stderr.read().decode(errors="replace").strip().splitlines() if self.proc.poll() is not None else []
                raise RuntimeError("the grader's child process did not start: " + (err[-1] if err else "no answer")) from None
        return self.info

    @property
    def cuda(self) -> bool:
        return bool(self.ready().get("cuda"))

    def spawn(self, memory_mb: int, output_kb: int) -> "Worker":
        self.ready()
        with self._lock:
            self._n += 1
            workdir = self.workroot / f"w{self._n}"
            workdir.mkdir()
            chan_parent, chan_child = socket.socketpair()
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            request = json.dumps({"workdir": str(workdir), "memory_mb": memory_mb}).encode()
            socket.send_fds(self.ctl, [request], [chan_child.fileno(), out_w, err_w])
            for f in (out_w, err_w):
                os.close(f)
            chan_child.close()
            self.ctl.settimeout(30)
            pid = json.loads(self.ctl.recv(4096))["pid"]
        return Worker(pid, chan_parent, workdir, OutputTap(out_r, output_kb * 1024), OutputTap(err_r, output_kb * 1024))

    def close(self) -> None:
        # The zygote holds nothing worth a clean exit, and torch's interpreter shutdown costs a second.
        try:
            self.ctl.close()
            self.proc.kill()
            self.proc.wait()
        finally:
            if self.proc.stderr:
                self.proc.stderr.close()
            shutil.rmtree(self.workroot, ignore_errors=True)

    def __enter__(self) -> "Zygote":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Worker:
    """One forked child serving one submission. `kill()` ends its whole process group."""

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
        shutil.rmtree(self.workdir, ignore_errors=True)

    def output(self) -> str:
        """What the student's code printed (stdout then stderr), capped."""
        parts = [t for t in (self.out.text(), self.err.text()) if t.strip()]
        return "\n".join(parts)
