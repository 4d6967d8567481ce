"""The student build: attnlab as a wheel for students' notebooks, with the public cases and no answers.

    python -m attnlab.student_build OUTDIR    # writes OUTDIR/attnlab-<version>-py3-none-any.whl

Students call ``from attnlab import check; check(qk_scores)`` in their own kernel, so their image needs
attnlab installed; self-learners, who grade a file of their own with ``attnlab check FILE`` or ``pytest
--attn-submission FILE``, need it too. The full install holds the answers: ``attnlab.reference``, and
``attnlab.answers``, whose mistake models are the reference with one slip put back in. The student build
holds neither. Its import name is still ``attnlab``, so the lessons work unchanged, and ``check()``,
``attnlab check`` and the pytest plugin run the same case runner and the same judge on the same public
cases, ``attnlab check`` and the plugin in the same sandboxed child process as the grader:

- **What it ships.** By folder (`student_files`): the package's root modules that check(), ``attnlab
  check`` and the pytest plugin need (`SHIPPED_FILES`), the ``child/`` zone and the trusted parent's three
  rooms (``judging/``, ``running/``, ``reporting/``) whole, and the course.yml it was built for; and the
  console script ``attnlab`` and the plugin's ``pytest11`` entry point (`STUDENT_ENTRY_POINTS`). Never the
  answers zone, ``answers/``, nor ``reference/``, nor this builder: they are not on the list, and a wheel
  that holds one is refused (`unexpected_members`). The nbgrader plugin and ``hub/`` stay out too: they
  serve instructors.
- **Its CLI.** The same ``attnlab.cli``, which there offers ``attnlab check`` and ``attnlab doctor``;
  ``attnlab grade`` and the instructors' commands answer in one line that they need the full install.
  Nor is there a self-check (`running.selfcheck`): its known-correct submission would be the reference.
- **The public cases, as data.** ``public_cases.json`` (each case's spec, label and names) and
  ``public_cases.safetensors`` (its input tensors, the reference's outputs and gradients, and the output
  of every mistake model the diagnosis rules compare with, ``answers.applicable``), computed here from
  the real reference for the course's public seed. ``cases.make_cases`` reads them there; any other
  seed is an error.
- **What check() does without.** Nothing it says: the verdicts and diagnoses are the same as in the
  full install (``tests/test_student_build.py`` compares them on every mistake file). The judge's
  callee replay and reference shapes need the reference on inputs the student's code made and cannot
  be precomputed, so the student build skips them; but only the grader's callee attribution uses them,
  and check() never attributes: it judges the one function it is given.
- **No leaks, checked.** `build` scans the finished wheel with `find_leaks` and refuses to leave a wheel
  in which it finds a line of the reference's or the mistake models' code, or nbgrader's solution and
  hidden-test delimiters.

The wheel is made by ``pip wheel --no-deps --no-build-isolation --no-index`` from a staged tree with
a generated ``pyproject.toml``, built by the same setuptools backend as the full install. That works
offline with what the full install already has (pip and setuptools; in a venv without setuptools, pip
fetches it), takes about a second, and gives a standard wheel (METADATA with the dependencies, RECORD
with hashes) that ``pip install`` accepts; a hand-rolled zip would have to get all of that right by
hand.

The leak scan (`reference_fingerprints`, `find_leaks`) is for any release artifact: wheels and zips
(every member), notebooks, directories, plain text.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tokenize
import zipfile
from pathlib import Path

import yaml

from . import __version__
from .course import DEFAULT_COURSE, Course, load_course

HERE = Path(__file__).resolve().parent

#: What the student build ships: these modules of the package's root, and these zones whole.
SHIPPED_FILES = (
    "__init__.py",
    "version.py",
    "notebook_check.py",
    "course.py",
    "tasks.py",
    "contracts.json",  # attnlab's own tasks' contracts, which tasks.py reads
    "cli.py",
    "pytest_plugin.py",
    "exchange.py",  # nbgrader's submit as the hub's students' servers configure it
    "earlier_lessons.py",  # from attnlab import earlier: a later lesson reads an earlier one's function
)
SHIPPED_FOLDERS = ("child", "judging", "running", "reporting")

#: What it never ships (the answers zone, the reference, the lessons' sources with their solutions and hidden
#: tests, this builder); `unexpected_members` refuses a wheel that holds one.
NEVER_SHIPPED = ("answers/", "reference/", "lessons/", "student_build.py")

#: The dependencies those modules import; their version bounds come from the full install's metadata (for
#: pytest, its test extra). nbformat reads a notebook given to ``attnlab check`` or the plugin, rich draws
#: ``attnlab check``'s table, and pytest runs ``pytest --attn-submission``: a self-learner installs the
#: wheel alone.
STUDENT_REQUIRES = (
    "torch",
    "numpy",
    "matplotlib",
    "safetensors",
    "pydantic",
    "pyyaml",
    "nbformat",
    "rich",
    "pytest",
)

#: The entry points the student build declares, by group: the full install's, for the modules it ships
#: (`tests/test_student_build.py` holds them to the full install's metadata).
STUDENT_ENTRY_POINTS = {
    "console_scripts": {"attnlab": "attnlab.cli:run"},
    "pytest11": {"attnlab": "attnlab.pytest_plugin"},
}

#: nbgrader's default delimiters of solution and hidden-test regions: a release artifact holds none.
NBGRADER_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")

#: A line is evidence of the reference's code when, normalised, it is at least this long and computes
#: something (see `_computes`).
MIN_CHARS = 20


# ------------------------------------------------------------------------------------------- the build


def build(outdir: str | os.PathLike, course: Course | str | os.PathLike | None = None) -> Path:
    """Write the student wheel into `outdir` and return its path.

    `course` is a Course, or the path of a course.yml; by default $ATTNLAB_COURSE, else the course.yml
    shipped with attnlab. The wheel carries that course.yml and the public cases of its tasks.
    """
    course, course_text = _course(course)
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    wheel = outdir / f"attnlab-{__version__}-py3-none-any.whl"
    wheel.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="attnlab-student-") as tmp:
        stage = Path(tmp)
        package = stage / "attnlab"
        package.mkdir()
        for name in student_files():
            (package / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HERE / name, package / name)
        (package / "course.yml").write_text(course_text, encoding="utf-8")
        write_public_cases(package, course)
        (stage / "pyproject.toml").write_text(_pyproject(), encoding="utf-8")
        _pip_wheel(stage, outdir)
    if not wheel.exists():
        raise RuntimeError(f"pip wheel did not write {wheel.name} in {outdir}")
    problems = unexpected_members(wheel) + find_leaks([wheel], answers=course_answers(course))
    if problems:
        wheel.unlink()
        raise RuntimeError("the student wheel would leak answers, so it was not written:\n" + "\n".join(problems))
    return wheel


def write_public_cases(package: Path, course: Course) -> None:
    """Compute the public cases of every task with the reference, with their mistake models, into `package`."""
    from safetensors.torch import save_file

    # Imported here, not at the top: they import torch, which `source_digest` (attnlab hub) does not need.
    from .judging.cases import (
        PUBLIC_CASES,
        PUBLIC_TENSORS,
        SCHEMA,
        answers,
        cases_to_data,
        contract_params,
        make_cases,
    )
    from .notebook_check import case_devices

    models = answers()
    if models is None:
        raise RuntimeError(
            "the student build is made from the full install, which has attnlab.answers and attnlab.reference"
        )
    devices = case_devices(course)
    by_task = {}
    for task in course.tasks:
        cases = make_cases(task.id, course.public_seed, course.dtypes, devices)
        # Copies: make_cases's cases are cached and shared, and nothing may change them.
        by_task[task.id] = [
            dataclasses.replace(c, recompute=None, models={n: models.mistake(n, c) for n in models.applicable(c)})
            for c in cases
        ]
    manifest, tensors = cases_to_data(
        by_task,
        seed=course.public_seed,
        dtypes=course.dtypes,
        devices=devices,
        version=__version__,
        contract=contract_params(),
    )
    (package / PUBLIC_CASES).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    save_file(tensors, str(package / PUBLIC_TENSORS), metadata={"schema": SCHEMA})


def course_answers(course: Course) -> dict[str, str]:
    """The code of the course's own tasks (``attnlab.task_api``), by task, for the leak scan: their whole modules
    (the reference, its helpers, the slips' models, which are one slip away from it) and the reference as the
    self-check runs it. The student build carries their contracts and public cases, never a line of their code."""
    if not course.own_tasks:
        return {}
    from .task_api import installed, solution_source

    out = {}
    for tid in (t.id for t in course.own_tasks):
        task = installed(tid)
        module = Path(task.source).read_text(encoding="utf-8") if task.source else ""
        out[f"{tid} (the course's reference)"] = module + "\n\n" + solution_source(task)
    return out


def student_files() -> list[str]:
    """The files the student build ships, relative to the package: `SHIPPED_FILES` and every Python file
    under `SHIPPED_FOLDERS`."""
    files = list(SHIPPED_FILES)
    for folder in SHIPPED_FOLDERS:
        files += sorted(str(p.relative_to(HERE)) for p in (HERE / folder).rglob("*.py"))
    return files


def source_digest(course: Course | str | os.PathLike | None = None) -> str:
    """A hash of what a student build is made from (its files, its course.yml, attnlab's version): the
    same digest, the same wheel. `attnlab hub` remakes the students' environment when it changes."""
    h = hashlib.sha256(f"{__version__}\n{_course(course)[1]}\n".encode())
    for name in student_files():
        h.update(f"{name}\n".encode() + (HERE / name).read_bytes())
    return h.hexdigest()


def unexpected_members(wheel: str | os.PathLike) -> list[str]:
    """Members of a student wheel that must not be there (`NEVER_SHIPPED`): the answers, the reference, this builder."""
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    parts = [re.escape(n) + ("" if n.endswith("/") else "$") for n in NEVER_SHIPPED]
    banned = re.compile(r"(^|/)(" + "|".join(parts) + r"|reference\.py$)")
    return [f"{Path(wheel).name}/{n}: must not be in the student build" for n in names if banned.search(n)]


def _course(course) -> tuple[Course, str]:
    """The course and the text of the course.yml to ship with it."""
    if isinstance(course, Course):
        return course, yaml.safe_dump(course.model_dump(mode="json", exclude_none=True), sort_keys=False)
    path = Path(course or os.environ.get("ATTNLAB_COURSE") or DEFAULT_COURSE)
    return load_course(path), path.read_text(encoding="utf-8")


def _requires() -> list[str]:
    """The full install's requirements of the modules the student build ships, with their bounds: each one's
    unconditional requirement, else (pytest) the one of an extra, without its marker."""
    try:
        reqs = importlib.metadata.requires("attnlab") or []
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError("attnlab is not installed (pip install -e .), so its dependencies are unknown") from None
    found: dict[str, str] = {}
    for req in reqs:
        name = re.match(r"[A-Za-z0-9._-]+", req).group(0).lower()
        spec, _, marker = req.partition(";")
        if name in STUDENT_REQUIRES and (name not in found or "extra ==" not in marker):
            found[name] = req if "extra ==" not in marker else spec.strip()
    missing = set(STUDENT_REQUIRES) - set(found)
    if missing:
        raise RuntimeError(f"attnlab's metadata does not require {', '.join(sorted(missing))}")
    return [found[name] for name in STUDENT_REQUIRES]


def _pyproject() -> str:
    def s(text: str) -> str:
        return json.dumps(text)  # a JSON string is a valid TOML basic string

    from .judging.cases import PUBLIC_CASES, PUBLIC_TENSORS

    deps = ",\n".join(f"    {s(r)}" for r in _requires())
    groups = {"console_scripts": "[project.scripts]", "pytest11": "[project.entry-points.pytest11]"}
    entry_points = "".join(
        groups[group] + "\n" + "".join(f"{s(name)} = {s(target)}\n" for name, target in points.items()) + "\n"
        for group, points in STUDENT_ENTRY_POINTS.items()
    )
    files = ", ".join(s(f) for f in ("course.yml", "contracts.json", PUBLIC_CASES, PUBLIC_TENSORS))
    folders = sorted({Path(f).parent.parts for f in student_files() if f.endswith(".py")})  # () is attnlab
    packages = ", ".join(s(".".join(["attnlab", *parts])) for parts in folders)
    return f"""[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "attnlab"
version = {s(__version__)}
description = "attnlab's student build: check(), `attnlab check` and the pytest plugin on the public cases; no answers."
requires-python = ">=3.10"
dependencies = [
{deps},
]

{entry_points}
[tool.setuptools]
packages = [{packages}]
include-package-data = false

[tool.setuptools.package-data]
attnlab = [{files}]
"""


def _pip_wheel(stage: Path, outdir: Path) -> None:
    # Offline with the setuptools at hand; without one (a bare venv), pip fetches it in an isolated build.
    offline = ["--no-build-isolation", "--no-index"] if importlib.util.find_spec("setuptools") else []
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        *offline,
        "--quiet",
        "--wheel-dir",
        str(outdir),
        str(stage),
    ]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=stage)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise RuntimeError(f"pip wheel failed ({done.returncode}):\n{tail}")


# --------------------------------------------------------------------------------------------- leak scan
# A fingerprint is one line of the answers' code, normalised: comments and docstrings dropped, every
# whitespace character removed (so that re-indenting or reformatting does not hide a copy) and single
# quotes made double. Only lines specific enough to be evidence count (`_computes`). A scanned line
# is normalised the same way and leaks when it contains a fingerprint.


def reference_fingerprints() -> set[str]:
    """The normalised lines of code of the reference and the mistake models (see `_computes`)."""
    return set(_fingerprints())


def find_leaks(paths_or_texts, extra_markers=(), answers: dict[str, str] | None = None) -> list[str]:
    """Every line that holds a line of the answers' code (and of `answers`, label -> source: a course's own
    tasks' references), nbgrader's solution or hidden-test delimiters, or one of `extra_markers`, as
    "file:line: the line  <- what it matches".

    A `pathlib.Path` (or any os.PathLike) is a file, a directory (every file under it) or a wheel or zip
    archive (every member, nested archives too); a `str` is text. Notebooks and JSON are scanned as text
    and with their JSON strings decoded, so that a notebook cell's source is read as its author wrote it.
    """
    wanted = dict(_fingerprints())
    for label, source in (answers or {}).items():
        for lineno, line in _body_lines(source):
            wanted.setdefault(_normal(line), f"{label}:{lineno}")
    for marker in (*NBGRADER_MARKERS, *extra_markers):
        wanted.setdefault(_normal(marker), f"the marker {marker!r}")
    pattern = re.compile("|".join(re.escape(k) for k in sorted(wanted, key=len, reverse=True)))
    findings: list[str] = []
    for n, item in enumerate([paths_or_texts] if isinstance(paths_or_texts, (str, os.PathLike)) else paths_or_texts):
        if isinstance(item, os.PathLike):
            for name, data in _files(Path(item)):
                findings += _scan(name, data, pattern, wanted)
        else:
            findings += _scan(f"<text {n}>", str(item).encode(), pattern, wanted)
    return findings


@functools.cache
def _fingerprints() -> dict[str, str]:
    """normalised line -> where it comes from, e.g. "attnlab/reference/attention.py:38"."""
    spec = importlib.util.find_spec(f"{__package__}.reference")
    if spec is None or spec.origin is None:
        raise RuntimeError("the leak scan needs the full install: attnlab.reference is not here")
    reference = Path(spec.origin).parent
    sources = {f"attnlab/reference/{p.name}": p for p in sorted(reference.glob("*.py"))}
    answers = HERE / "answers"  # the shared code and every task's module (answers/tasks/)
    sources.update({f"attnlab/answers/{p.relative_to(answers)}": p for p in sorted(answers.rglob("*.py"))})
    out: dict[str, str] = {}
    for label, path in sources.items():
        for lineno, line in _body_lines(path.read_text(encoding="utf-8")):
            out.setdefault(_normal(line), f"{label}:{lineno}")
    return out


def _body_lines(source: str) -> list[tuple[int, str]]:
    """(line number, code without its comment) of every statement inside a function or method body
    that is evidence (`_computes`, `MIN_CHARS`): docstrings, imports and def or class headers are left out."""
    tree = ast.parse(source)
    lines = source.splitlines()
    comment_at = {
        tok.start[0]: tok.start[1]
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }
    out: list[tuple[int, str]] = []

    def visit(stmts: list[ast.stmt], in_function: bool) -> None:
        for st in stmts:
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(st.body, in_function or not isinstance(st, ast.ClassDef))  # a header is a signature
                continue
            children = [c for f in ("body", "orelse", "finalbody") for c in getattr(st, f, [])]
            children += [c for h in getattr(st, "handlers", []) for c in h.body]
            if in_function and not isinstance(st, (ast.Import, ast.ImportFrom)) and not _is_string(st):
                last = min(c.lineno for c in children) - 1 if children else st.end_lineno
                header = [v for f, v in ast.iter_fields(st) if f not in ("body", "orelse", "finalbody", "handlers")]
                if _computes(header):
                    for lineno in range(st.lineno, last + 1):
                        code = lines[lineno - 1][: comment_at.get(lineno)]
                        if len(_normal(code)) >= MIN_CHARS and not _literal_only(code):
                            out.append((lineno, code))
            visit(children, in_function)

    visit(tree.body, False)
    return out


_STRING = re.compile(r"[rbuf]*(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')", re.IGNORECASE)
_LITERAL_REST = re.compile(r"^(?:[\s,:()\[\]{}+\-.\d]|True|False|None|e)*$")


def _literal_only(code: str) -> bool:
    """Whether one physical line of a longer statement holds only literals (``"kind": "meta_device",``):
    data that any program may hold, which the public cases ship on purpose, not a line of the answers."""
    return bool(_LITERAL_REST.match(_STRING.sub("", code)))


def _is_string(st: ast.stmt) -> bool:
    return isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant) and isinstance(st.value.value, str)


def _normal(line: str) -> str:
    return re.sub(r"\s+", "", line).replace("'", '"')


def _computes(parts) -> bool:
    """Whether a statement (its header, for if, for, while, with) computes something: it has an
    operator (arithmetic, matrix, comparison, ``~``), or at least two calls.

    Together with `MIN_CHARS`, this is what makes a line evidence. It keeps the lines that are the
    answers (``z = (scores - s_max) / temperature``, ``return weights @ v, weights``,
    ``i = torch.arange(seq_len, device=device).unsqueeze(1)``) and leaves out what any code that uses
    the same libraries says: one call (``ax.set_xlabel("key")``, ``with torch.no_grad():``,
    ``scores = qk_scores(q, k)``, ``self.W_q = nn.Linear(d_model, d_model, bias=bias)`` from the
    contract), and short lines (``return out``, ``d = q.shape[-1]``, ``super().__init__()``).
    """
    calls = 0
    for part in parts if isinstance(parts, list) else [parts]:
        for node in ast.walk(part) if isinstance(part, ast.AST) else []:
            if isinstance(node, (ast.BinOp, ast.Compare)):
                return True
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
                return True
            calls += isinstance(node, ast.Call)
    return calls >= 2


def _files(path: Path):
    """(name, bytes) of every file under `path`, archives opened."""
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file():
                yield from _files(p)
        return
    data = path.read_bytes()
    yield from _members(str(path), data)


def _members(name: str, data: bytes):
    if name.endswith((".whl", ".zip")) and zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for info in z.infolist():
                if not info.is_dir():
                    yield from _members(f"{name}/{info.filename}", z.read(info))
        return
    yield name, data


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _scan(name: str, data: bytes, pattern: re.Pattern, wanted: dict[str, str]) -> list[str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # binary: still scanned, byte for byte
    is_json = name.endswith((".ipynb", ".json"))
    findings = []
    for lineno, line in enumerate(text.splitlines(), 1):
        candidates = [line]
        if is_json:
            for literal in _JSON_STRING.findall(line):
                try:
                    candidates += json.loads(literal).splitlines()
                except ValueError:
                    pass
        for candidate in candidates:
            hit = pattern.search(_normal(candidate))
            if hit:
                findings.append(f"{name}:{lineno}: {candidate.strip()[:120]}  <- {wanted[hit.group(0)]}")
                break
    return findings


# --------------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnlab.student_build", description=__doc__.split("\n")[0])
    parser.add_argument("outdir", help="where to write attnlab-<version>-py3-none-any.whl")
    parser.add_argument("--course", help="course.yml to build for (default: $ATTNLAB_COURSE, else attnlab's own)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    try:
        wheel = build(args.outdir, args.course)
    except Exception as e:  # noqa: BLE001 - one line for the person building, not a traceback
        print(f"attnlab.student_build: {e}", file=sys.stderr)
        return 2
    print(f"{wheel} ({wheel.stat().st_size / 1024:.0f} KiB, {time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
