"""The worker never sees hidden tests: nothing it can read holds the text of an autograder test cell.

nbgrader's autograde restores the instructor's hidden tests into the notebook before grading, and that
notebook is what the trusted grader loads. A probe cell, graded through the session's real worker, reads
everything a student's code could reach for them: every file under /submission, /work, /tmp and its
cwd, its own ``__file__``, /proc/self/cmdline and /proc/self/environ, the cells the runner was sent
(from the interpreter's frames) and every string held in any container in its memory. It prints where
the hidden-test text turned up. The control puts the same text in a plain cell, where it is the
student's own code: there the probe must find it, so the check can fail.
"""

from __future__ import annotations

import json
import re
import uuid

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

PROBE = r"""
import gc, json, os, sys, warnings

warnings.simplefilter("ignore")  # touching every object wakes torch's deprecation warnings

NEEDLES = {"marker": "@REVERSED@"[::-1], "delimiter": "STSET NEDDIH NIGEB"[::-1]}
_found, _read = [], []


def _check(where, data):
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    for what, needle in NEEDLES.items():
        if data is not needle and needle in data:
            _found.append(f"{what} in {where}")


def _read_file(path):
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 22)
    except OSError:
        return
    _read.append(path)
    _check(path, data)


# The Python runtime is visible (read-only) wherever it lives, /tmp included: it is everyone's, and
# holds no course (test_hostile.py's disk scan checks that), so it is left out of the walk.
_runtime = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix} | {p for p in sys.path if p})
for root in ("/submission", "/work", "/tmp", os.getcwd()):
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not os.path.join(folder, d).startswith(_runtime)]
        for name in files:
            _read_file(os.path.join(folder, name))
for path in (__file__, "/proc/self/cmdline", "/proc/self/environ"):
    _read_file(path)

_cells = []
frame = sys._getframe()
while frame is not None and not _cells:  # the runner's frames: the load request and the cells it holds
    for value in list(frame.f_locals.values()):
        if isinstance(value, dict) and isinstance(value.get("cells"), list):
            _cells = [c for c in value["cells"] if isinstance(c, str)]
    frame = frame.f_back
for i, cell in enumerate(_cells):
    _check(f"cell {i + 1} it was sent", cell)

_strings = 0
for obj in gc.get_objects():  # every string any container in this process holds
    items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
    try:
        for item in list(items):
            if isinstance(item, (str, bytes)) and item not in NEEDLES.values():
                _strings += 1
                _check("memory", item)
    except Exception:
        pass

_own = [p for p in _read if p.startswith(("/submission", "/proc")) or p == __file__]
print("PROBE " + json.dumps({"found": sorted(set(_found)), "read": _own, "files": len(_read), "cells": len(_cells),
                             "strings": _strings}))
"""


def hidden_region(marker: str) -> str:
    return f"\n### BEGIN HIDDEN TESTS\nassert causal_mask(3).sum() == 6, {marker!r}\n### END HIDDEN TESTS"


def notebook_with_hidden_tests(marker: str, *, also_in_plain_cell: bool = False):
    """What nbgrader's autograde hands the trusted grader: hidden tests back in the grade cell, and outputs."""
    grade = {
        "nbgrader": {
            "grade": True,
            "solution": False,
            "locked": True,
            "grade_id": "causal_mask",
            "points": 10,
            "schema_version": 3,
        }
    }
    solution = {
        "nbgrader": {
            "grade": False,
            "solution": True,
            "locked": False,
            "grade_id": "causal_mask_solution",
            "schema_version": 3,
        }
    }
    cells = [
        new_markdown_cell("# The causal mask"),
        new_code_cell(PROBE.replace("@REVERSED@", marker[::-1]), metadata=solution),
        new_code_cell(
            "check(causal_mask)" + hidden_region(marker),
            metadata=grade,
            outputs=[new_output("stream", name="stdout", text=f"AssertionError: {marker}")],
        ),
    ]
    if also_in_plain_cell:
        cells.append(new_code_cell(f"# the student's own note: {marker}\n# BEGIN HIDDEN TESTS"))
    return new_notebook(cells=cells)


def probe(grade, tmp_path, **kwargs) -> dict:
    marker = f"hidden-{uuid.uuid4().hex}"
    path = tmp_path / "lesson.ipynb"
    nbformat.write(notebook_with_hidden_tests(marker, **kwargs), str(path))
    result = grade(path, tasks=["causal_mask"])
    line = re.search(r"^PROBE (.*)$", result["output"], re.M)
    assert line, result["output"]
    return {"marker": marker, "result": result, **json.loads(line.group(1))}


def test_nothing_the_worker_can_read_holds_the_hidden_tests(grade, tmp_path):
    seen = probe(grade, tmp_path)
    assert seen["found"] == [], seen["found"]
    assert "/submission/lesson.ipynb" in seen["read"], seen["read"]  # it did read its own notebook
    assert {"/proc/self/cmdline", "/proc/self/environ"} <= set(seen["read"]), seen["read"]
    assert seen["cells"] == 2 and seen["strings"] > 1000, seen  # it did see the cells it was sent, and its memory
    assert seen["marker"] not in json.dumps(seen["result"])


def test_control_the_probe_finds_the_same_text_in_a_plain_cell(grade, tmp_path):
    seen = probe(grade, tmp_path, also_in_plain_cell=True)
    for where in ("/submission/lesson.ipynb", "cell 3 it was sent", "memory"):
        assert f"marker in {where}" in seen["found"], seen["found"]
        assert f"delimiter in {where}" in seen["found"], seen["found"]
    assert not any("cell 2" in f for f in seen["found"]), seen["found"]  # the grade cell stays empty
