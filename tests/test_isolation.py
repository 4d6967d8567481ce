"""What the child process holds, and what the install puts on sys.path."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from conftest import SUBMISSIONS, build, task_of


def test_worker_memory_holds_no_reference_or_judge(grade, tmp_path):
    result = grade(build(SUBMISSIONS / "hostile" / "steal_reference.py", tmp_path), tasks=["qk_scores"])
    qk = task_of(result, "qk_scores")
    # Had the reference been in the worker's memory, the stolen answer would have passed.
    assert "missing_scale" in qk["diagnoses"], qk


def test_the_child_zone_loads_as_a_package_of_its_own():
    """As the zygote loads it (BOOT): every module under child/ imports, and nothing of attnlab comes with it."""
    from attnlab.running.processes import CHILD, LOAD_CHILD

    code = LOAD_CHILD + (
        "import pkgutil\n"
        "names = [m.name for m in pkgutil.walk_packages([sys.argv[1]], '_attnlab_child.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(len(names), sorted(n for n in sys.modules if n.startswith(('attnlab', 'reference'))))\n"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code, str(CHILD)], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stderr
    count, loaded = out.stdout.split(" ", 1)
    assert int(count) >= 7 and loaded.strip() == "[]", out.stdout


def test_no_generic_top_level_names_are_installed():
    assert importlib.util.find_spec("attnlab.reference") is not None
    for generic in ("reference", "autograder"):
        out = subprocess.run([sys.executable, "-c", f"import {generic}"], capture_output=True, cwd="/", text=True)
        assert out.returncode != 0, f"`import {generic}` works from outside the repo"


def test_gpu_cases_are_reported_pending_not_dropped(grade):
    import torch
    from attnlab import reference

    result = grade(str(reference.SOURCE), tasks=["qk_scores", "attention"])
    for task in result["tasks"]:
        cuda = [c for c in task["cases"] if c["device"] == "cuda"]
        assert cuda, f"{task['id']} has no cuda case"
        if not torch.cuda.is_available():
            assert all(c["status"] == "pending" for c in cuda)
            assert task["pending"] == len(cuda)
            assert task["score"] == task["max_score"]  # pending cases count in neither share


def test_the_runner_is_not_reachable_by_name_from_student_code(zygote, tmp_path):
    """Not __main__, not in sys.modules: `sys.modules["__main__"].Detectors = ...` has nothing to replace."""
    from test_sandbox import run_in_worker

    code = """
import sys
main = sys.modules["__main__"]
names = sorted(n for n in vars(main) if not n.startswith("__"))
holders = sorted(k for k, m in list(sys.modules.items()) if m is not None and "Detectors" in vars(m))
print("FACTS", names, holders, "runner.py" in (getattr(main, "__file__", "") or ""))
"""
    out = run_in_worker(zygote, code)
    line = next(ln for ln in out.splitlines() if ln.startswith("FACTS"))
    assert line == "FACTS [] [] False", line
