"""What the child process holds, and what the install puts on sys.path."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys

from conftest import SUBMISSIONS, build, task_of


def test_worker_memory_holds_no_reference_or_judge(grade, tmp_path):
    result = grade(build(SUBMISSIONS / "hostile" / "steal_reference.py", tmp_path), tasks=["qk_scores"])
    qk = task_of(result, "qk_scores")
    # Had the reference been in the worker's memory, the stolen answer would have passed.
    assert "missing_scale" in qk["diagnoses"], qk


def test_runner_imports_nothing_from_attnlab():
    """The child's own files load torch and their two siblings by path, never the attnlab package."""
    from pathlib import Path

    import attnlab

    here = Path(attnlab.__file__).parent
    for name in ("runner.py", "wire.py", "figure_data.py"):
        tree = ast.parse((here / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0 and not (node.module or "").startswith("attnlab"), (name, node.module)
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("attnlab") for a in node.names), name


def test_no_generic_top_level_names_are_installed():
    assert importlib.util.find_spec("attnlab.reference") is not None
    for generic in ("reference", "autograder"):
        out = subprocess.run([sys.executable, "-c", f"import {generic}"], capture_output=True, cwd="/", text=True)
        assert out.returncode != 0, f"`import {generic}` works from outside the repo"


def test_gpu_cases_are_reported_pending_not_dropped(grade):
    import torch

    from attnlab import reference

    result = grade(reference.__file__, tasks=["qk_scores", "attention"])
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
