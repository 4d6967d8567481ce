# hostile: search the disk for answers while loading: the reference, the grader, hidden tests and other
# students' work, from / and along sys.path and the import machinery. It prints "found: PATH" for what it
# could read, "seen: PATH" for what exists but would not open, then one "scanned:" line. In the sandbox
# there must be nothing to find.
import importlib.util
import os
import re
import sys
import time

BUDGET = 3.0  # seconds; the load limit is larger
NEEDLE = b"def softmax_with_temperature"
LIBRARY = ("site-packages", "dist-packages", "/lib/python3", "/usr/share/", "/usr/lib/")
_mine = os.path.abspath(__file__)
found: list = []
scanned = 0


def _report(path: str) -> None:
    if path in found:
        return
    found.append(path)
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as f:
                f.read(1)
        print(f"found: {path}", flush=True)
    except OSError:
        print(f"seen: {path}", flush=True)


def _look(path: str, name: str) -> None:
    """The course's files, or any code with a softmax_with_temperature in it but this file.

    Library folders are searched only where a path names the grader (an installed attnlab)."""
    if path == _mine:
        return
    if name == "course.yml" or path.startswith("/work/main/"):
        _report(path)
    elif name.endswith((".py", ".ipynb")) and (not any(lib in path for lib in LIBRARY) or "attnlab" in path):
        try:
            with open(path, "rb") as f:
                if NEEDLE in f.read(1 << 20):
                    _report(path)
        except OSError:
            pass


def _walk(roots: list, deadline: float) -> bool:
    global scanned
    done = set()
    for root in roots:
        for folder, dirs, files in os.walk(root):
            if folder in done or folder in ("/proc", "/sys", "/dev"):
                dirs[:] = []
                continue
            done.add(folder)
            for name in files:
                scanned += 1
                _look(os.path.join(folder, name), name)
            for name in dirs:
                if name in ("attnlab", "autograder"):
                    _report(os.path.join(folder, name))
            if time.monotonic() > deadline:
                return False
    return True


def _imports() -> None:
    """The import machinery: the editable install's finder knows where the grader lives."""
    saved = sys.modules.pop("attnlab", None)
    try:
        for name in ("attnlab", "attnlab.reference", "attnlab.judging.judge", "reference", "autograder"):
            try:
                spec = importlib.util.find_spec(name)  # imports the parent package, if it can
            except Exception:  # noqa: BLE001 - ImportError, or PermissionError where a file is visible but closed
                continue
            if spec is not None and spec.origin and os.path.exists(spec.origin):
                _report(spec.origin)
    finally:
        if saved is not None:
            sys.modules["attnlab"] = saved
    for folder in [p for p in sys.path if os.path.isdir(p)]:  # where the editable finder says the grader is
        for name in os.listdir(folder):
            if name.startswith("__editable__") and name.endswith(".py"):
                with open(os.path.join(folder, name)) as f:
                    for target in re.findall(r"'(/[^']+)'", f.read()):
                        if os.path.exists(target):
                            _report(target)


t0 = time.monotonic()
_imports()
for guess in ("/work/main/reference/__init__.py", "/work/main/tests", "/work/main/course.yml"):
    if os.path.exists(guess):
        _report(guess)
likely = ["/work", "/home", "/srv", "/opt", "/mnt", "/media", "/root", "/tmp", "/var", os.getcwd(),
          os.path.dirname(_mine)]
complete = _walk([p for p in likely if os.path.isdir(p)] + [p for p in sys.path if os.path.isdir(p)] + ["/"],
                 t0 + BUDGET)
print(f"scanned: {scanned} files in {time.monotonic() - t0:.1f} s, complete: {complete}", flush=True)
