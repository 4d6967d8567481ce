"""The sandbox around student code (``attnlab.child.confine``), seen from inside a worker, and `attnlab doctor`.

Most checks share one worker of the session's zygote, which reports what it sees as one JSON line.
Checks of single mechanisms (masking a folder, the fallback, refusing to run) confine a small Python
process without torch, which costs a fraction of a second.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import resource
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import attnlab
import pytest
from attnlab.child import confine
from attnlab.course import load_course
from attnlab.running.processes import LAYER_NAMES, Zygote, hidden_paths
from attnlab.running.submission import Submission
from conftest import REPO

CONFINE = Path(confine.__file__)
ROOT = os.geteuid() == 0


def user_namespaces_work() -> bool:
    """Asked without confine: can a fresh process make a user namespace here?"""
    code = "import ctypes, sys; sys.exit(ctypes.CDLL(None, use_errno=True).unshare(0x10000000) != 0)"
    return subprocess.run([sys.executable, "-I", "-c", code]).returncode == 0


def finder_targets() -> list[str]:
    """Where the editable install's finder (in site-packages) says the attnlab package and the reference are."""
    targets = []
    for folder in sys.path:
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if name.startswith("__editable__") and "attnlab" in name and name.endswith(".py"):
                    targets += re.findall(r"'(/[^']+)'", (Path(folder) / name).read_text())
    return targets


def run_in_worker(zygote: Zygote, code: str, name: str = "inside.py") -> str:
    """Load `code` as a submission in a fresh worker; what it printed."""
    worker = zygote.spawn(2048, 64, submission=Submission(Path(name), [code], notebook=False))
    try:
        worker.send({"op": "load", "cells": [code], "notebook": False, "filename": name, "names": [], "skip": []})
        header, _ = worker.recv(time.monotonic() + 30)
        assert header["op"] == "loaded" and not header["errors"], header
        worker.send({"op": "bye"})
    finally:
        worker.kill()
    return worker.output()


INSIDE = """
import hashlib, json, os, resource, socket, sys
facts = {"ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid()], "pid": os.getpid(), "cwd": os.getcwd(),
         "home": os.environ.get("HOME"), "file": __file__, "python": os.path.exists(sys.executable)}
facts["visible"] = [p for p in PATHS if os.path.exists(p)]
facts["copy"] = hashlib.sha256(open(__file__, "rb").read()).hexdigest()
try:
    open(__file__, "a").close()
    facts["copy_writable"] = True
except OSError:
    facts["copy_writable"] = False
sys.modules.pop("attnlab", None)  # the worker's stub, which has no reference in it
try:
    import attnlab.reference
    facts["reference"] = "imported"
except ImportError as e:
    facts["reference"] = type(e).__name__
facts["rlimits"] = {n: resource.getrlimit(getattr(resource, n))[0]
                    for n in ("RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_DATA", "RLIMIT_AS")}
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
facts["status"] = {k: status[k].strip() for k in ("CapEff", "CapBnd", "NoNewPrivs", "Seccomp")}
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
    facts["tcp"] = "connected"
except OSError as e:
    facts["tcp"] = str(e)
print("FACTS " + json.dumps(facts))
"""


@pytest.fixture(scope="module")
def inside(zygote):
    """What a worker of the session's zygote sees, with a listener on 127.0.0.1 to try to reach."""
    paths = [str(REPO), str(REPO / "reference"), str(Path(attnlab.__file__).parent), *finder_targets(), *hidden_paths()]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.5)
        code = f"PATHS = {paths!r}\nPORT = {listener.getsockname()[1]}\n" + INSIDE
        out = run_in_worker(zygote, code)
        try:
            listener.accept()[0].close()
            reached = True
        except TimeoutError:
            reached = False
    facts = json.loads(next(line for line in out.splitlines() if line.startswith("FACTS "))[6:])
    facts["listener_reached"] = reached
    facts["sha"] = hashlib.sha256(code.encode()).hexdigest()
    return facts


requires_userns = pytest.mark.skipif(not user_namespaces_work(), reason="this machine cannot make user namespaces")


def test_confine_uses_only_the_standard_library():
    """confine/ can be loaded by path: it may import neither attnlab nor anything outside the stdlib, only its
    own modules (`from .kernel import ...`, never `from .. import`)."""
    for path in sorted(CONFINE.parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1, (path.name, node.module)
            elif isinstance(node, ast.ImportFrom):
                assert node.module.split(".")[0] in sys.stdlib_module_names, (path.name, node.module)
            elif isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] in sys.stdlib_module_names for a in node.names), path.name


def test_probe_finds_every_layer_this_machine_has(zygote):
    layers = zygote.sandbox
    assert set(layers) == set(LAYER_NAMES)
    userns = user_namespaces_work()
    expected = {
        "userns": userns,
        "mountns": userns,
        "netns": userns,
        "pidns": userns,
        "landlock": confine.landlock_abi() > 0,
        "seccomp": confine.ARCH in ("x86_64", "aarch64"),
        "nobody": ROOT,
        "rlimit_nproc": ROOT or userns,
    }
    for layer, active in expected.items():
        assert layers[layer][0] == active, (layer, layers[layer])
    for layer in ("rlimit_data", "rlimit_fsize", "rlimit_nofile", "output"):
        assert layers[layer][0], (layer, layers[layer])
    assert all(detail for _, detail in layers.values())


@requires_userns
def test_worker_sees_neither_the_checkout_nor_the_editable_install_targets(inside):
    assert finder_targets(), "no editable finder found: is attnlab installed with pip install -e?"
    assert inside["visible"] == []
    assert inside["python"]
    assert inside["cwd"] == inside["home"] == "/work"


def test_reference_cannot_be_imported_in_a_worker(inside):
    assert inside["reference"] == "ModuleNotFoundError"


@requires_userns
def test_worker_sees_a_read_only_private_copy_of_its_submission(inside):
    assert inside["file"] == "/submission/inside.py"
    assert inside["copy"] == inside["sha"]
    assert not inside["copy_writable"]


def test_worker_cannot_reach_the_network(inside):
    assert inside["tcp"] != "connected" and not inside["listener_reached"]


@pytest.mark.skipif(not ROOT, reason="the drop to nobody happens only when the grader runs as root")
def test_worker_started_as_root_is_nobody_without_capabilities(inside):
    assert inside["ids"] == [confine.NOBODY] * 4
    assert int(inside["status"]["CapEff"], 16) == 0 and int(inside["status"]["CapBnd"], 16) == 0
    assert inside["status"]["NoNewPrivs"] == "1" and inside["status"]["Seccomp"] == "2"


@requires_userns
def test_worker_is_pid_1_of_its_own_namespace(inside):
    assert inside["pid"] == 1


def test_worker_rlimits(inside):
    limits = inside["rlimits"]
    assert limits["RLIMIT_FSIZE"] == confine.FILE_MB << 20
    assert limits["RLIMIT_NOFILE"] == confine.NOFILE
    # memory_mb on top of what torch has allocated; the address space stays open, or CUDA cannot start
    assert 0 < limits["RLIMIT_DATA"] != resource.RLIM_INFINITY
    assert limits["RLIMIT_AS"] == resource.RLIM_INFINITY
    if ROOT or user_namespaces_work():
        assert limits["RLIMIT_NPROC"] == confine.NPROC


# ------------------------------------------------------------------------------ single mechanisms, no torch

CONFINED = """
import importlib.util, json, os, sys, tempfile
spec = importlib.util.spec_from_file_location(
    "confine", {confine!r}, submodule_search_locations=[os.path.dirname({confine!r})]
)
confine = importlib.util.module_from_spec(spec)
sys.modules["confine"] = confine  # a package: its modules import each other as confine.kernel, ...
spec.loader.exec_module(confine)
work = tempfile.mkdtemp()
os.chmod(work, 0o711)
for d in ("work", "submission"):
    os.mkdir(os.path.join(work, d))
with open(os.path.join(work, "submission", "mine.py"), "w") as f:
    f.write("# mine")
spec = {{"mode": {mode!r}, "plan": confine.plan({hide!r}), "workdir": work, "memory_mb": 512,
         "submission": "mine.py", "require": {require!r}, "skip": {skip!r}}}
try:
    result = confine.enter(spec)
except confine.ConfineError as e:
    print("REFUSED " + str(e), flush=True)
    sys.exit(0)
{code}
"""


def run_confined(
    code: str, mode: str = "auto", hide: list[str] | None = None, require: list[str] = (), skip: dict | None = None
) -> str:
    """Confine a fresh small Python process with `enter`, then run `code` in it (`result` holds enter's answer)."""
    script = CONFINED.format(
        confine=str(CONFINE),
        mode=mode,
        hide=list(hide if hide is not None else hidden_paths()),
        require=list(require),
        skip=dict(skip or {}),
        code=textwrap.dedent(code),
    )
    out = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


@requires_userns
def test_a_hidden_folder_inside_the_runtime_is_covered():
    """As a non-editable install of attnlab in site-packages would be: here numpy stands in for it."""
    import numpy

    hidden = str(Path(numpy.__file__).parent)
    out = run_confined(f"print(os.listdir({hidden!r}), os.path.isdir({str(Path(hidden).parent)!r}))", hide=[hidden])
    assert out.strip() == "[] True"


def test_landlock_fallback_hides_and_confines():
    """What a machine without user namespaces gets: Landlock, seccomp, nobody and the rlimits."""
    if not confine.landlock_abi():
        pytest.skip("this kernel has no Landlock (or it is switched off at boot)")
    out = run_confined(
        f"""
        import socket
        facts = {{"layers": {{k: v[0] for k, v in result["layers"].items()}}}}
        for name, action in [("read_reference", lambda: open({str(REPO / "reference" / "__init__.py")!r}).read()),
                             ("list_checkout", lambda: os.listdir({str(REPO)!r})),
                             ("write_tmp", lambda: open("/tmp/attnlab-fallback-probe", "w")),
                             ("write_copy", lambda: open(result["submission"], "a")),
                             ("tcp", lambda: socket.create_connection(("127.0.0.1", 9), timeout=1))]:
            try:
                action()
                facts[name] = "allowed"
            except OSError as e:
                facts[name] = type(e).__name__
        open("mine.txt", "w").write("the cwd is writable")
        facts["read_copy"] = open(result["submission"]).read()
        import fractions  # a module nothing imported yet: the runtime is still readable
        facts["uid"] = os.getuid()
        facts["caps"] = [line.split()[1] for line in open("/proc/self/status") if line.startswith("CapEff")][0]
        print(json.dumps(facts))
    """,
        mode="landlock",
    )
    facts = json.loads(out.splitlines()[-1])
    assert facts["layers"]["landlock"] and facts["layers"]["seccomp"] and not facts["layers"]["mountns"]
    for name in ("read_reference", "list_checkout", "write_tmp", "write_copy", "tcp"):
        assert facts[name] == "PermissionError", (name, facts)
    assert facts["read_copy"] == "# mine"
    assert not Path("/tmp/attnlab-fallback-probe").exists()
    assert int(facts["caps"], 16) == 0
    if ROOT:
        # nobody, unless the runtime is closed to nobody (pyenv in /root): then uid 0 without capabilities
        closed = confine._closed_to_nobody(confine.plan(hidden_paths())["binds"])
        assert facts["uid"] == (confine.NOBODY if closed is None else 0)
        assert facts["layers"]["nobody"] == (closed is None)


@requires_userns
def test_a_layer_the_probe_saw_fail_is_not_half_built_in_a_worker():
    """The probe found the new root broken: the worker keeps the other namespaces and reads the runtime
    where it lies (Landlock's rules), instead of running in a root that lacks it."""
    out = run_confined(
        """
        import fractions  # a module nothing imported yet: the runtime is readable
        layers = {k: v for k, v in result["layers"].items()}
        print(json.dumps({"layers": layers, "cwd": os.getcwd(), "python": os.path.exists(sys.executable)}))
    """,
        skip={"mountns": "the probe saw /opt/python missing inside"},
    )
    facts = json.loads(out.splitlines()[-1])
    assert facts["layers"]["mountns"] == [False, "the probe saw /opt/python missing inside"]
    assert facts["layers"]["userns"][0] and facts["layers"]["pidns"][0] and facts["layers"]["netns"][0]
    assert facts["cwd"] != "/work" and facts["python"]
    if confine.landlock_abi():
        assert facts["layers"]["landlock"][0]


def test_the_probe_withdraws_a_root_that_lacks_a_runtime_path(tmp_path):
    """A bind the plan promised but the worker cannot see makes the probe withdraw the layer that hid it."""
    workdir = tmp_path / "probe"
    for d in ("work", "submission"):
        (workdir / d).mkdir(parents=True)
    plan = confine.plan([])
    plan["binds"] = [*plan["binds"], str(tmp_path / "not-there")]
    spec = {"mode": "off", "plan": plan, "workdir": str(workdir), "submission": None}
    layers = {"mountns": (True, "claimed"), "landlock": (False, "absent")}
    checked = confine._check({"layers": layers, "submission": None}, spec)
    assert checked["mountns"][0] is False and "not-there is missing inside" in checked["mountns"][1]


def test_a_worker_refuses_to_run_without_a_layer_it_was_promised():
    out = run_confined("print('ran anyway')", mode="landlock", require=["userns", "seccomp"])
    assert out.startswith("REFUSED sandbox layer(s) userns did not come up"), out


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_seccomp_program_for_each_architecture(monkeypatch, arch):
    monkeypatch.setattr(confine.kernel, "ARCH", arch)  # the one module that holds it
    program = confine.seccomp_program()
    assert program[0] == (0x20, 0, 0, 4) and program[1][3] == confine._AUDIT_ARCH[arch]  # checks the arch first
    denied = {k for code, _, _, k in program if code == 0x15}
    assert {confine._nr(name) for name in confine.DENIED} <= denied
    assert all(isinstance(k, int) and 0 <= jt < 256 and 0 <= jf < 256 for _, jt, jf, k in program)
    assert program[-1] == (0x06, 0, 0, 0x00050000 | 1)  # the shared exit: EPERM


@pytest.mark.slow
def test_only_one_warning_line_for_a_weaker_sandbox(monkeypatch, capsys):
    from attnlab.running import processes as sandbox

    monkeypatch.setattr(sandbox, "_warned", False)
    with Zygote("landlock") as zygote:
        zygote.ready()
        zygote.ready()
        assert not zygote.sandbox["mountns"][0] and zygote.sandbox["landlock"][0] == (confine.landlock_abi() > 0)
    with Zygote("landlock") as again:
        again.ready()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnlab: sandbox: no user namespace"), lines
    assert "attnlab doctor" in lines[0]


# ------------------------------------------------------------------------------ attnlab doctor


@pytest.mark.slow
def test_doctor_names_every_layer():
    env = {**os.environ, "COLUMNS": "200"}
    out = subprocess.run(
        [sys.executable, "-m", "attnlab.cli", "doctor"], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    for name in LAYER_NAMES.values():
        assert name in out.stdout, name
    total = f"{sum(t.points for t in load_course().tasks):g}"
    assert f"self-check: passed: a known-correct submission scores {total}/{total} here." in out.stdout
    assert "GPU: " in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "attnlab.cli", "doctor", "--json"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    doctor = json.loads(out.stdout)
    layers = doctor["layers"]
    assert list(layers) == list(LAYER_NAMES)
    assert all(isinstance(v["active"], bool) and v["detail"] for v in layers.values())
    assert doctor["mode"] == (os.environ.get("ATTNLAB_SANDBOX") or "auto") and doctor["selfcheck"] == {
        "passed": True,
        "score": f"{total}/{total}",
    }
    assert isinstance(doctor["gpu"], dict)


def test_a_bad_sandbox_mode_is_one_line():
    out = subprocess.run(
        [sys.executable, "-m", "attnlab.cli", "doctor"],
        capture_output=True,
        text=True,
        env={**os.environ, "ATTNLAB_SANDBOX": "maybe"},
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == "attnlab: ATTNLAB_SANDBOX='maybe': choose from auto, landlock, off"


def test_a_hidden_folder_leaks_only_what_is_not_the_way_to_a_shown_runtime(tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / ".venv" / "lib").mkdir(parents=True)
    binds = [str(checkout / ".venv")]
    assert confine._leaks(str(checkout), binds) == ""  # only the way to the venv inside it
    (checkout / "reference").mkdir()
    assert confine._leaks(str(checkout), binds) == "it lists reference"
    (tmp_path / "empty").mkdir()
    assert confine._leaks(str(tmp_path / "empty"), binds) == ""  # a mask
    (tmp_path / "module.py").write_text("ANSWER = 42")
    (tmp_path / "masked.py").write_text("")
    assert confine._leaks(str(tmp_path / "module.py"), binds) == "its contents"
    assert confine._leaks(str(tmp_path / "masked.py"), binds) == ""
    assert confine._leaks(str(tmp_path / "gone"), binds) == ""


def test_a_hidden_folder_inside_another_is_covered_once(monkeypatch, tmp_path):
    """A wheel install: site-packages/attnlab and attnlab/reference are both hidden; one mask covers both."""
    site = tmp_path / "site-packages"
    (site / "attnlab" / "reference").mkdir(parents=True)
    monkeypatch.setattr(sys, "path", [str(site)])
    plan = confine.plan([str(site / "attnlab"), str(site / "attnlab" / "reference")])
    assert plan["masks"] == [str(site / "attnlab")]


def test_the_gpu_is_asked_about_in_a_child_never_here():
    """`gpu_info` starts nothing in the zygote: a forked child answers, also when it finds no GPU or fails."""
    from types import SimpleNamespace

    from attnlab.child import zygote as runner

    def fake(available):
        return SimpleNamespace(
            backends=SimpleNamespace(cuda=SimpleNamespace(is_built=lambda: True)),
            cuda=SimpleNamespace(is_available=available),
        )

    assert runner.gpu_info(fake(lambda: False)) == {}

    def broken():
        raise RuntimeError("no driver")

    assert runner.gpu_info(fake(broken)) == {"count": 0, "error": "RuntimeError: no driver"}
    not_built = SimpleNamespace(backends=SimpleNamespace(cuda=SimpleNamespace(is_built=lambda: False)))
    assert runner.gpu_info(not_built) == {}
