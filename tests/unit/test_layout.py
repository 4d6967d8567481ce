"""The layout is the architecture: the rules that keep the trust zones apart, checked on the source tree."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import attnlab

PACKAGE = Path(attnlab.__file__).resolve().parent
CHILD = PACKAGE / "child"

#: Besides the standard library, what code beside student code may import.
CHILD_MAY_IMPORT = {"torch", "numpy", "matplotlib", "safetensors"}


def _violations(source: str, depth: int) -> list[str]:
    """The imports in `source` that leave the child zone; `depth` is how deep below child/ its file lies."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.level > depth + 1:  # `from .. import x` in child/x.py reaches the attnlab package
                out.append(f"from {'.' * node.level}{node.module or ''} import {', '.join(a.name for a in node.names)}")
            continue
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        for name in names:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in CHILD_MAY_IMPORT:
                out.append(f"import {name}")
    return out


def test_nothing_in_the_child_zone_imports_the_trusted_side_or_the_answers():
    files = sorted(CHILD.rglob("*.py"))
    assert {"zygote.py", "worker.py", "detectors.py", "wire.py"} <= {p.name for p in files}
    for path in files:
        depth = len(path.relative_to(CHILD).parts) - 1
        assert _violations(path.read_text(encoding="utf-8"), depth) == [], path


def test_the_rule_sees_every_way_out_of_the_child_zone():
    assert _violations("from ..grading import judge", depth=0) == ["from ..grading import judge"]
    assert _violations("from ... import reference", depth=1) == ["from ... import reference"]
    assert _violations("import attnlab.reference", depth=0) == ["import attnlab.reference"]
    assert _violations("def f():\n    from attnlab import answers", depth=0) == ["import attnlab"]
    assert _violations("import pydantic, yaml", depth=0) == ["import pydantic", "import yaml"]
    # what is allowed: its own siblings, the standard library and the four libraries
    allowed = "from . import wire\nfrom .. import wire\nimport os, torch.nn\nfrom numpy import ndarray"
    assert _violations(allowed, depth=1) == []


def test_only_the_trusted_side_reaches_the_answers_and_only_through_one_door():
    """grading/ finds the answers zone by name at run time (`grading.cases.answers`), so the student build,
    which has no answers/, still imports; nothing imports it statically."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(PACKAGE / "answers"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):  # `from .cases import answers` is a function, not the zone
                names = [node.module] if node.module else [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert not any("answers" in n.split(".") for n in names), (path, names)


def test_the_student_build_ships_the_child_and_grading_zones_and_never_the_answers(tmp_path):
    import zipfile

    from attnlab.student_build import student_files, unexpected_members

    files = student_files()
    assert {"notebook_check.py", "child/worker.py", "child/confine/__init__.py", "grading/judge.py"} <= set(files)
    assert not [f for f in files if f.startswith(("answers/", "reference/", "lessons/")) or f == "student_build.py"]
    wheel = tmp_path / "attnlab-0-py3-none-any.whl"
    banned = [
        "attnlab/answers/mistakes.py",
        "attnlab/reference/attention.py",
        "attnlab/lessons/lesson1_qk_scores/lesson1_qk_scores.ipynb",  # solutions and hidden tests
        "attnlab/student_build.py",
    ]
    with zipfile.ZipFile(wheel, "w") as z:
        for name in banned:
            z.writestr(name, "")
        z.writestr("attnlab/grading/judge.py", "")
    found = unexpected_members(wheel)
    assert len(found) == len(banned) and not any("grading/judge.py" in f for f in found), found


def test_the_trusted_side_parses_source_through_one_locked_door():
    """A class run judges on threads, and CPython 3.11's parser can fail ("AST constructor recursion depth
    mismatch") when two threads parse at once: `grading.submission.parse` holds a lock, and is the only caller."""
    callers = [
        path.relative_to(PACKAGE).as_posix()
        for path in sorted((PACKAGE / "grading").rglob("*.py"))
        if "ast.parse(" in path.read_text(encoding="utf-8")
    ]
    assert callers == ["grading/submission.py"]
