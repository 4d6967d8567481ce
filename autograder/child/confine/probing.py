"""Probing: every layer tried in a throwaway child (`probe`), and checked from inside."""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from collections.abc import Callable

from .entering import enter
from .policy import LAYERS
from .view import _inside


class Forked:
    """`fn` running in a throwaway forked child, which answers with the JSON object `fn` returns.

    Fork it while the process is single-threaded. `answer()` waits: the object, ``{"error": ...}`` where
    `fn` raised, or None where the child died without a whole answer.
    """

    def __init__(self, fn: Callable[[], dict]):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                try:
                    payload = fn()
                except BaseException as e:  # noqa: BLE001 - report whatever went wrong, never raise in a fork
                    payload = {"error": f"{type(e).__name__}: {e}"}
                data = json.dumps(payload).encode()
                while data:
                    data = data[os.write(w, data) :]
            finally:
                os._exit(0)
        os.close(w)
        self.pid, self.fd = pid, r

    def answer(self) -> dict | None:
        chunks = []
        with os.fdopen(self.fd, "rb") as f:
            while chunk := f.read(65536):
                chunks.append(chunk)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        try:
            answer = json.loads(b"".join(chunks))
        except ValueError:
            return None
        return answer if isinstance(answer, dict) else None


class Probe(Forked):
    """`probe` running in a throwaway child; `result()` waits for its answer."""

    def result(self) -> dict[str, list]:
        answer = self.answer()
        if not answer or "error" in answer:
            why = (answer or {}).get("error", "the probe process died")
            return {k: [False, f"probe failed: {why}"] for k in LAYERS}
        return answer


def probe(spec: dict) -> Probe:
    """Try every layer in a forked child with `spec` (as for `enter`, with a scratch workdir).

    Call it while the process is single-threaded. Each layer is checked from inside as well: the hidden
    paths must be gone or unreadable, an AF_INET socket refused, the child PID 1, and so on.
    """
    return Probe(lambda: {k: list(v) for k, v in _check(enter(spec), spec).items()})


def _leaks(hidden: str, binds: list[str]) -> str:
    """What of a hidden path can be read here, in words; "" when nothing.

    An empty folder or file (a mask) shows nothing, and neither does a folder that holds only the way
    to a runtime folder shown inside it (a venv inside the checkout: the checkout lists ``.venv``).
    """
    try:
        if not os.path.isdir(hidden):
            with open(hidden, "rb") as f:
                return "its contents" if f.read(1) else ""
        entries = set(os.listdir(hidden))
    except OSError:
        return ""
    ways = {b[len(hidden) :].lstrip("/").split("/")[0] for b in binds if _inside(b, hidden) and b != hidden}
    extra = sorted(entries - ways)
    return f"it lists {', '.join(extra[:3])}" if extra else ""


def _check(result: dict, spec: dict) -> dict[str, tuple[bool, str]]:
    """Look, from inside the sandbox, at what each layer claims to do; a claim that fails is withdrawn."""
    layers = dict(result["layers"])

    def withdraw(layer: str, why: str) -> None:
        if layers.get(layer, (False,))[0]:
            layers[layer] = (False, why)

    for h in spec["plan"]["hide"]:
        shown = _leaks(h, spec["plan"]["binds"])
        if shown:
            for layer in ("mountns", "landlock"):
                withdraw(layer, f"{h} is still readable ({shown})")
    if not os.path.exists(sys.executable):
        withdraw("mountns", f"{sys.executable} is missing")
    for path in spec["plan"]["binds"]:  # the runtime and every sys.path entry: imports need them all
        try:
            os.listdir(path) if os.path.isdir(path) else open(path, "rb").close()
        except OSError as e:
            layer = "mountns" if layers.get("mountns", (False,))[0] else "landlock"
            withdraw(
                layer,
                f"{path} is {'missing' if e.errno == errno.ENOENT else 'not readable'} inside, "
                "so imports from it would fail",
            )
    try:
        os.listdir(os.path.dirname(os.__file__))
    except OSError as e:
        for layer in ("mountns", "landlock"):
            withdraw(layer, f"the Python runtime is not readable inside ({e.strerror}): imports would fail")
    if result["submission"] and not os.path.exists(result["submission"]):
        withdraw("mountns", "the private copy of the submission is missing")
    try:
        with open("/proc/self/net/dev") as f:
            interfaces = [line.split(":")[0].strip() for line in f.readlines()[2:]]
        if [i for i in interfaces if i != "lo"]:
            withdraw("netns", f"interfaces {', '.join(interfaces)} are visible")
    except OSError:
        pass
    if os.getpid() != 1:
        withdraw("pidns", f"the worker is PID {os.getpid()}, not 1")
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
        withdraw("seccomp", "an AF_INET socket was allowed")
    except PermissionError:
        pass
    if spec.get("mode") != "off" and os.geteuid() == 0:
        withdraw("nobody", "still root")
    return layers
