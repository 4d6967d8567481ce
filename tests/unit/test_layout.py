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
    assert _violations("from ..judging import judge", depth=0) == ["from ..judging import judge"]
    assert _violations("from ... import reference", depth=1) == ["from ... import reference"]
    assert _violations("import attnlab.reference", depth=0) == ["import attnlab.reference"]
    assert _violations("def f():\n    from attnlab import answers", depth=0) == ["import attnlab"]
    assert _violations("import pydantic, yaml", depth=0) == ["import pydantic", "import yaml"]
    # what is allowed: its own siblings, the standard library and the four libraries
    allowed = "from . import wire\nfrom .. import wire\nimport os, torch.nn\nfrom numpy import ndarray"
    assert _violations(allowed, depth=1) == []


def test_only_the_trusted_side_reaches_the_answers_and_only_through_one_door():
    """grading/ finds the answers zone by name at run time (`judging.cases.answers`), so the student build,
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


def test_the_student_build_ships_the_child_zone_and_the_three_rooms_and_never_the_answers(tmp_path):
    import zipfile

    from attnlab.student_build import student_files, unexpected_members

    files = student_files()
    assert {"notebook_check.py", "child/worker.py", "child/confine/__init__.py", "judging/judge.py"} <= set(files)
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
        z.writestr("attnlab/judging/judge.py", "")
    found = unexpected_members(wheel)
    assert len(found) == len(banned) and not any("judging/judge.py" in f for f in found), found


def test_the_trusted_side_parses_source_through_one_locked_door():
    """A class run judges on threads, and CPython 3.11's parser can fail ("AST constructor recursion depth
    mismatch") when two threads parse at once: `judging.source.parse` holds a lock, and is the only caller."""
    callers = [
        path.relative_to(PACKAGE).as_posix()
        for room in ROOMS
        for path in sorted((PACKAGE / room).rglob("*.py"))
        if "ast.parse(" in path.read_text(encoding="utf-8")
    ]
    assert callers == ["judging/source.py"]


# ------------------------------------------------------------------------------ the trusted parent's three rooms

ROOMS = ("judging", "running", "reporting")
#: What starts a process, for the rooms that must start none.
STARTS_PROCESSES = {"subprocess", "multiprocessing", "concurrent.futures.process", "attnlab.child.zygote"}
#: What of running/ starts or drives children (its results file and its loader start none).
RUNS_CHILDREN = {f"attnlab.running.{m}" for m in ("processes", "grade", "classrun", "dask_grading", "selfcheck")}


def _imports(source: str, module: str) -> list[str]:
    """Every module `source` imports, as absolute dotted names, where `source` is the module `module` (a.b.c)."""
    package = module.rsplit(".", 1)[0].split(".")
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            stem = ".".join([*base, *([node.module] if node.module else [])])
            out += [stem] if node.module else [f"{stem}.{a.name}" if stem else a.name for a in node.names]
            if node.module:
                out += [f"{stem}.{a.name}" for a in node.names]  # `from a import b`: b may be a module of a
    return out


def _room_files(room: str):
    for path in sorted((PACKAGE / room).rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(["attnlab", *parts]).removesuffix(".__init__")
        if path.name == "__init__.py":
            name += ".__init__"  # its package is itself: `from . import x` there is attnlab.<room>.x
        yield path, name


def _breaks(imports: list[str], banned: set[str]) -> list[str]:
    return [i for i in imports if any(i == b or i.startswith(b + ".") for b in banned)]


def _root_imports(source: str, module: str) -> list[str]:
    """The imports in `source` (the module `module`) that take a name from the package root's __init__ itself
    (``import attnlab``, ``from attnlab import check``, ``from .. import __version__`` reaching it), rather than
    import one of the root's modules or subpackages (``from ..version import __version__``, ``from .. import
    reference``)."""
    depth = module.count(".")  # attnlab.judging.judge: 2, its `from .. import` reaches the root
    modules = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if p.is_dir()} | {"reference"}
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name == "attnlab"]
        elif isinstance(node, ast.ImportFrom):
            at_root = node.module is None and node.level == depth or node.level == 0 and node.module == "attnlab"
            names = [a.name for a in node.names if at_root and a.name not in modules]
            out += [f"from {'.' * node.level}{node.module or ''} import {n}" for n in names]
    return out


def test_judging_imports_neither_other_room_and_starts_no_process():
    banned = {"attnlab.running", "attnlab.reporting", *STARTS_PROCESSES}
    for path, name in _room_files("judging"):
        assert _breaks(_imports(path.read_text(encoding="utf-8"), name), banned) == [], path


def test_reporting_runs_no_child():
    banned = RUNS_CHILDREN | STARTS_PROCESSES | {"attnlab.child"}
    for path, name in _room_files("reporting"):
        assert _breaks(_imports(path.read_text(encoding="utf-8"), name), banned) == [], path


def test_nothing_below_the_package_root_imports_the_root():
    """`from .. import __version__` takes a name from the root's __init__, which imports lazily what the doors
    need (check, earlier): the rooms and zones import the root's modules (``..version``, ``..course``) instead."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent == PACKAGE:
            continue
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(["attnlab", *parts])  # a package's __init__ counts as a module inside it
        assert _root_imports(path.read_text(encoding="utf-8"), name) == [], path


def test_the_room_rules_see_what_they_forbid():
    """Controls: each rule flags the import it is there for, however it is spelled, and passes what is allowed."""
    judging = {"attnlab.running", "attnlab.reporting", *STARTS_PROCESSES}
    j = "attnlab.judging.judge"
    assert "attnlab.running.grade" in _breaks(_imports("from ..running.grade import x", j), judging)
    assert _breaks(_imports("from .. import reporting", j), judging) == ["attnlab.reporting"]
    assert _breaks(_imports("def f():\n    import subprocess", j), judging) == ["subprocess"]
    assert _breaks(_imports("from .cases import answers\nfrom ..tasks import TASKS", j), judging) == []
    r = "attnlab.reporting.report"
    running = RUNS_CHILDREN | STARTS_PROCESSES | {"attnlab.child"}
    assert "attnlab.running.processes" in _breaks(_imports("from ..running import processes", r), running)
    assert _breaks(_imports("from ..running.results import ResultsFile", r), running) == []
    assert _root_imports("from .. import __getattr__, reference", j) == ["from .. import __getattr__"]
    assert _root_imports("def f():\n    from .. import __version__", j) == ["from .. import __version__"]
    assert _root_imports("import attnlab\nfrom attnlab import check", j) == ["attnlab", "from attnlab import check"]
    assert _root_imports("from ... import check", "attnlab.judging.rules.qk_scores") == ["from ... import check"]
    allowed = "from ..version import __version__\nfrom .. import reference\nfrom . import rules"
    assert _root_imports(allowed, j) == []


#: The longest a function of the package may be, in lines (its decorators and docstring included).
LONGEST_FUNCTION = 60


def _long_functions(source: str) -> list[str]:
    return [
        f"{n.name}: {n.end_lineno - n.lineno + 1} lines"
        for n in ast.walk(ast.parse(source))
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > LONGEST_FUNCTION
    ]


def test_no_function_of_the_package_is_over_60_lines():
    long = {
        path.relative_to(PACKAGE).as_posix(): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if (found := _long_functions(path.read_text(encoding="utf-8")))
    }
    assert long == {}


def test_the_length_rule_sees_a_long_function():
    body = "".join(f"    x{i} = {i}\n" for i in range(LONGEST_FUNCTION))
    assert _long_functions(f"def long():\n{body}") == [f"long: {LONGEST_FUNCTION + 1} lines"]
    assert _long_functions(f"def short():\n{body[: body.rindex('    x')]}") == []
