"""The student build: a wheel with no answers in it, whose check() says what the full install's says.

The course issue asks that "a test asserts [no solution code] by scanning every release artifact,
including anything a student installs, for the reference's code and for hidden-test text". The release
artifacts are the student wheel (``attnlab.student_build``) and the lessons as released (made here with
nbgrader's own ``ClearSolutions``, as in test_notebooks.py). Both are scanned with
``student_build.find_leaks``, and the scan is shown to find a planted leak.

The wheel is then installed as a student would have it: ``pip install --target`` into a directory, used
by ``python -S`` with that directory first on PYTHONPATH and then the site-packages that hold torch and
the other dependencies. ``-S`` skips the ``.pth`` files, among them the one that maps ``attnlab`` (and
``attnlab.reference``) to this checkout in the editable full install, so the student's process cannot
reach the answers by accident; it checks that itself.

Self-learners install the wheel alone: the last section makes a venv that holds only the wheel and what
its metadata requires (pytest among them), and runs ``attnlab check FILE`` and ``pytest --attn-submission
FILE`` there, from a scratch folder, as a self-learner would.
"""

from __future__ import annotations

import configparser
import copy
import functools
import importlib.metadata
import json
import os
import re
import shutil
import site
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
import torch
from attnlab import __version__, cli
from attnlab.course import load_course
from attnlab.judging.cases import answers, cases_from_data, cases_to_data, contract_params, make_cases
from attnlab.notebook_check import case_devices
from attnlab.student_build import (
    STUDENT_ENTRY_POINTS,
    STUDENT_REQUIRES,
    build,
    find_leaks,
    reference_fingerprints,
    student_files,
    unexpected_members,
)
from conftest import BASE, REPO, SUBMISSIONS, TASK_SECONDS, expectation, install_wheel
from conftest import build as build_submission

COURSE = load_course(REPO / "course.yml")
HIDDEN_SEED = 11  # the seed conftest's `grade` fixture grades with: its cases are the hidden tests here
MISTAKES = sorted((SUBMISSIONS / "mistakes").glob("*.py"))
UNFORESEEN = sorted(p for p in (SUBMISSIONS / "unforeseen").glob("*.py") if p.name != "run.py")

# Mistakes about which the student build's check() legitimately says less than the full install's, with
# the reason. None: the student build lacks only the callee replay, and check() never attributes a
# caller's failure to a callee in either build (only `attnlab grade` passes callee statuses), so a
# student whose callee is wrong hears it from that callee's own check() in both.
FEWER_IN_STUDENT_BUILD: dict[str, str] = {}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    t0 = time.perf_counter()
    path = build(tmp_path_factory.mktemp("dist"))
    print(f"\nstudent wheel: {path.stat().st_size / 1024:.0f} KiB, built in {time.perf_counter() - t0:.1f} s")
    return path


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed the way pip installs it, into a directory of its own."""
    target = tmp_path_factory.mktemp("student-site")
    install_wheel(wheel, target)
    return target


def _student_env(installed: Path) -> dict:
    deps = [*site.getsitepackages(), site.getusersitepackages()]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "ATTNLAB_"))}
    return {**env, "PYTHONPATH": os.pathsep.join([str(installed), *deps]), "MPLBACKEND": "Agg"}


def _start(code: str, *args: str, student: Path | None = None) -> subprocess.Popen:
    """`python -c code args`: with the full install, or as a student with the wheel installed in `student`."""
    if student is None:
        cmd, env = (
            [sys.executable, "-c", code, *args],
            {k: v for k, v in os.environ.items() if not k.startswith("ATTNLAB_")},
        )
    else:
        cmd, env = [sys.executable, "-S", "-c", code, *args], _student_env(student)
    # Not from the checkout: there '' on sys.path would be the repository.
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=(student or REPO).parent
    )


def _result(proc: subprocess.Popen, timeout: float = 300) -> dict:
    """The JSON the process printed last; it is killed if it outlives `timeout`."""
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------- the wheel


def test_wheel_holds_check_and_the_public_cases_and_no_answers(wheel):
    assert wheel.name == f"attnlab-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        manifest = json.loads(z.read("attnlab/public_cases.json"))
    assert {
        "attnlab/notebook_check.py",
        "attnlab/judging/judge.py",
        "attnlab/child/worker.py",
        "attnlab/course.yml",
        "attnlab/public_cases.safetensors",
    } <= set(names)
    assert not unexpected_members(wheel)
    assert not [n for n in names if "reference" in n or "answers/" in n or n.endswith("student_build.py")]
    assert manifest["seed"] == COURSE.public_seed
    assert sorted(manifest["tasks"]) == sorted(t.id for t in COURSE.tasks)


def _dist_info(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as z:
        return z.read(f"attnlab-{__version__}.dist-info/{name}").decode()


def test_wheel_ships_the_cli_and_the_pytest_plugin_with_their_entry_points(wheel):
    points = configparser.ConfigParser()
    points.read_string(_dist_info(wheel, "entry_points.txt"))
    assert {g: dict(points[g]) for g in points.sections()} == STUDENT_ENTRY_POINTS
    # The same entry points as the full install's (pyproject.toml), and each one's module is in the wheel.
    full = {
        g: {e.name: e.value for e in importlib.metadata.entry_points(group=g) if e.dist.name == "attnlab"}
        for g in STUDENT_ENTRY_POINTS
    }
    assert full == STUDENT_ENTRY_POINTS
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    for group in STUDENT_ENTRY_POINTS.values():
        for target in group.values():
            module = target.split(":")[0].replace(".", "/") + ".py"
            assert module in names and module.removeprefix("attnlab/") in student_files(), target


def test_wheel_requires_what_its_modules_import_with_the_full_installs_bounds(wheel):
    requires = [
        line.removeprefix("Requires-Dist: ")
        for line in _dist_info(wheel, "METADATA").splitlines()
        if line.startswith("Requires-Dist: ")
    ]
    assert [re.match(r"[A-Za-z0-9._-]+", r).group(0).lower() for r in requires] == list(STUDENT_REQUIRES)
    assert not [r for r in requires if ";" in r]  # pytest's bound comes from the test extra, without its marker
    full = {r.partition(";")[0].replace(" ", "") for r in importlib.metadata.requires("attnlab")}
    assert all(r.replace(" ", "") in full for r in requires), requires


def test_wheel_holds_the_contracts_signatures_that_the_grader_reads_from_the_reference(wheel):
    with zipfile.ZipFile(wheel) as z:
        manifest = json.loads(z.read("attnlab/public_cases.json"))
    assert manifest["contract"] == contract_params()
    assert manifest["contract"]["attention"][:4] == ["q", "k", "v", "mask"]


def test_the_student_builds_cli_offers_check_and_doctor_and_refuses_the_rest_in_one_line(monkeypatch, capsys):
    commands = next(a for a in cli._parser(student=True)._actions if a.dest == "command").choices
    assert sorted(commands) == ["check", "doctor"]
    check = commands["check"].parse_args(["mywork.py"])
    assert (check.device, check.course) == ("auto", None)  # its cases exist for the bundled course only
    assert not cli.is_student_build()  # this checkout is the full install
    monkeypatch.setattr(cli, "is_student_build", lambda: True)
    for command in cli.FULL_INSTALL_ONLY:
        assert cli.main([command, "mywork.py"]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(f"attnlab: `attnlab {command}` needs the full install (") and "attnlab check" in line


def test_wheel_has_no_reference_code_and_no_hidden_tests(wheel):
    assert find_leaks([wheel]) == []  # the answers' code, and nbgrader's solution and hidden-test regions
    # The hidden tests are the cases of any other seed. None of their drawn inputs is in the wheel,
    # where every public case's inputs are (probes such as q = k = e1 are the same for every seed).
    with zipfile.ZipFile(wheel) as z:
        data = z.read("attnlab/public_cases.safetensors")
    drawn = 0
    for task in COURSE.tasks:
        public = {c.id: c for c in make_cases(task.id, COURSE.public_seed, COURSE.dtypes, case_devices(COURSE))}
        hidden = make_cases(task.id, HIDDEN_SEED, COURSE.dtypes, case_devices(COURSE))
        assert all(_holds(data, t) for c in public.values() for t in c.tensors.values()), task.id
        for c in hidden:
            for name, t in c.tensors.items():
                if not torch.equal(t, public[c.id].tensors[name]):
                    assert not _holds(data, t), f"{task.id} {c.id} {name}"
                    drawn += 1
    assert drawn > 100


def _holds(data: bytes, t: torch.Tensor) -> bool:
    return t.contiguous().view(torch.uint8).numpy().tobytes() in data


def test_public_cases_survive_the_data_exactly():
    devices = case_devices(COURSE)
    models = answers()
    by_task = {
        t.id: [_with_models(c, models) for c in make_cases(t.id, COURSE.public_seed, COURSE.dtypes, devices)]
        for t in COURSE.tasks
    }
    assert sum(len(c.models) for cases in by_task.values() for c in cases) > 50
    manifest, tensors = cases_to_data(
        by_task, seed=COURSE.public_seed, dtypes=COURSE.dtypes, devices=devices, version="x"
    )
    manifest = json.loads(json.dumps(manifest))
    for task_id, cases in by_task.items():
        back = cases_from_data(manifest, tensors, task_id)
        assert [c.id for c in back] == [c.id for c in cases]
        for c, b in zip(cases, back):
            for name in ("label", "kind", "spec", "dtype", "device", "probe"):
                assert getattr(b, name) == getattr(c, name), (c.id, name)
            _same(b.tensors, c.tensors)
            _same(b.expected, c.expected)
            _same(b.expected_grads, c.expected_grads)
            _same(b.extra, c.extra)
            _same(b.models, c.models)
            assert b.recompute is None
            if "mask" in b.tensors:
                assert b.extra["mask"] is b.tensors["mask"]  # an input in `extra` stays that input


def _with_models(case, models):
    import dataclasses

    return dataclasses.replace(case, models={n: models.mistake(n, case) for n in models.applicable(case)})


def _same(a, b):
    if isinstance(b, torch.Tensor):
        assert isinstance(a, torch.Tensor) and a.dtype == b.dtype and torch.equal(a.nan_to_num(7.0), b.nan_to_num(7.0))
    elif isinstance(b, dict):
        assert set(a) == set(b)
        for k in b:
            _same(a[k], b[k])
    elif isinstance(b, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert a == b


# ----------------------------------------------------------------------------------------- the leak scan


def test_fingerprints_hold_the_answers_and_not_what_any_code_says():
    prints = reference_fingerprints()
    for answer in [
        "return q @ k.transpose(-2, -1) / math.sqrt(d)",
        "z = (scores - s_max) / temperature",
        "j = torch.arange(seq_len, device=device).unsqueeze(0)",
        "return weights @ v, weights",
        "scores = scores.masked_fill(~mask, float('-inf'))",
        "return t.view(B, L, H, dh).transpose(1, 2)",
    ]:
        assert "".join(answer.split()).replace("'", '"') in prints, answer
    for generic in [
        "return out",
        "d = q.shape[-1]",
        "super().__init__()",
        "with torch.no_grad():",
        "scores = qk_scores(q, k)",
        "self.W_q = nn.Linear(d_model, d_model, bias=bias)",
    ]:
        assert "".join(generic.split()) not in prints, generic


def test_scan_finds_a_planted_leak(wheel, tmp_path):
    # A notebook whose scratch cell holds the softmax's core, re-indented and with a comment of its own.
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Lesson"),
            nbformat.v4.new_code_cell(
                "def f(scores, s_max, temperature):\n  z = (scores-s_max) / temperature   # mine\n  return z"
            ),
        ]
    )
    notebook = tmp_path / "lesson.ipynb"
    nbformat.write(nb, notebook)
    (found,) = find_leaks([notebook])
    assert found.startswith(f"{notebook}:") and "attnlab/reference/attention.py:" in found

    # A wheel with one more member that holds a line of the mistake models, in single quotes.
    planted = tmp_path / wheel.name
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(planted, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr(
            "attnlab/helpers.py",
            "def g(scores, mask, T):\n"
            "    return ref.softmax_with_temperature(scores.masked_fill(mask, float('-inf')), T, -1)\n",
        )
    (found,) = find_leaks([planted])
    assert found.startswith(f"{planted}/attnlab/helpers.py:2:") and "attnlab/answers/tasks/attention.py:" in found

    # A wheel inside a zip, a hidden-test region in plain text, and a marker of one's own.
    bundle = tmp_path / "release.zip"
    with zipfile.ZipFile(bundle, "w") as z:
        z.write(planted, planted.name)
    assert find_leaks([bundle])[0].startswith(f"{bundle}/{planted.name}/attnlab/helpers.py:2:")
    assert find_leaks(["x = 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 4"]) == [
        "<text 0>:2: ### BEGIN HIDDEN TESTS  <- the marker 'BEGIN HIDDEN TESTS'"
    ]
    assert len(find_leaks([tmp_path / "lesson.ipynb", "canary-7f3e"], extra_markers=["canary-7f3e"])) == 2


def test_released_lessons_have_no_answers(tmp_path):
    from nbgrader.preprocessors import ClearSolutions
    from traitlets.config import Config

    sources = sorted((REPO / "assignments" / "source").glob("*/*.ipynb"))
    assert len(sources) >= 4, sources  # every lesson's source notebook, however many lessons the course has
    released = []
    for path in sources:
        nb, _ = ClearSolutions(config=Config()).preprocess(
            copy.deepcopy(nbformat.read(path, as_version=4)), resources={}
        )
        released.append(tmp_path / path.name)
        nbformat.write(nb, released[-1])
    assert find_leaks(released) == []
    for path in sources:  # the scan sees the solutions where they are
        assert any("attnlab/reference/attention.py" in f for f in find_leaks([path])), path.name


# ------------------------------------------------------------------------------------- check(), installed

STUDENT_FACTS = r"""
import json, runpy, sys
import attnlab
facts = {"file": attnlab.__file__}
for name in ("attnlab.reference", "attnlab.answers", "attnlab.student_build"):
    try:
        __import__(name)
        facts[name] = "imported"
    except ImportError as e:
        facts[name] = type(e).__name__
from attnlab import check
from attnlab.course import load_course
from attnlab.notebook_check import run_in_process
from attnlab.reporting.pictures import task_figure

subs = sys.argv[1]
course = load_course()
base = runpy.run_path(f"{subs}/base.py")

def verdict(path, function):
    ns = runpy.run_path(path) if path else base
    fn = ns[function]
    task = next(t for t in course.tasks if t.function == function)
    ok = bool(check(fn))
    result = run_in_process(fn, task, course, course.public_seed)
    return {"check": ok, "status": result.status, "diagnoses": [d.id for d in result.diagnoses],
            "figure": task_figure(result) is not None}

facts["base"] = {f: verdict(None, f) for f in ("qk_scores", "softmax_with_temperature", "causal_mask", "attention",
                                                 "MultiHeadAttention", "plot_attention")}
facts["missing_scale"] = verdict(sys.argv[2], "qk_scores")
facts["temperature_ignored"] = verdict(sys.argv[3], "softmax_with_temperature")
facts["plot_missing_colorbar"] = verdict(sys.argv[4], "plot_attention")
try:
    check(base["qk_scores"], seed=course.public_seed + 1)
    facts["other_seed"] = "no error"
except ValueError as e:
    facts["other_seed"] = str(e)
print(json.dumps(facts))
"""


@pytest.fixture(scope="module")
def student_facts(installed, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mistakes")
    files = [
        str(build_submission(SUBMISSIONS / "mistakes" / f"{m}.py", tmp))
        for m in ("missing_scale", "temperature_ignored", "plot_missing_colorbar")
    ]
    return _result(_start(STUDENT_FACTS, str(SUBMISSIONS), *files, student=installed))


@pytest.mark.slow
def test_student_install_is_isolated_from_the_answers(student_facts, installed):
    assert Path(student_facts["file"]).resolve() == (installed / "attnlab" / "__init__.py").resolve()
    assert student_facts["attnlab.reference"] == "ModuleNotFoundError"
    assert student_facts["attnlab.answers"] == "ModuleNotFoundError"
    assert student_facts["attnlab.student_build"] == "ModuleNotFoundError"


@pytest.mark.slow
def test_student_check_passes_correct_code(student_facts):
    for function, v in student_facts["base"].items():
        assert v["check"] is True and v["status"] == "passed" and v["diagnoses"] == [], (function, v)


@pytest.mark.slow
def test_student_check_names_the_mistake(student_facts):
    for mistake in ("missing_scale", "temperature_ignored", "plot_missing_colorbar"):
        v = student_facts[mistake]
        assert v["check"] is False and mistake in v["diagnoses"], v
        assert v["figure"], f"{mistake}: no picture"  # the picture needs only the data


@pytest.mark.slow
def test_student_check_has_only_the_public_seed(student_facts):
    message = student_facts["other_seed"]
    assert "\n" not in message and f"only the public cases (seed {COURSE.public_seed})" in message


EVERY_MISTAKE = r"""
import json, sys, types
from attnlab.judging.cases import answers
from attnlab.course import load_course
from attnlab.notebook_check import run_in_process

mode, task_seconds, plan = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
assert (answers() is None) == (mode == "student"), mode
course = load_course()
course = course.model_copy(update={"limits": course.limits.model_copy(update={"task_seconds": task_seconds})})
out = {}
for name, task_id, path in plan:
    module = types.ModuleType(name)
    module.__file__ = path
    exec(compile(open(path).read(), path, "exec"), module.__dict__)
    task = course.task(task_id)
    r = run_in_process(module.__dict__[task.function], task, course, course.public_seed)
    out[name] = {"status": r.status, "score": round(r.score, 9), "diagnoses": [d.id for d in r.diagnoses],
                 "feedback": r.feedback}
print(json.dumps(out))
"""


@pytest.mark.slow
def test_student_check_agrees_with_the_full_install_on_every_mistake(installed, tmp_path):
    """On every mistake file, and on every slip nobody wrote a rule for (the describer's, whose knob models the
    student build precomputes), check() says what the full install says."""
    plan = []
    for path in MISTAKES:
        task_id, _ = expectation(path)
        plan.append((path.stem, task_id, str(build_submission(path, tmp_path))))
    for path in UNFORESEEN:
        task_id = path.read_text().split()[2]  # "# slip: TASK ID"
        plan.append((f"unforeseen.{path.stem}", task_id, str(build_submission(path, tmp_path))))
    args = (str(TASK_SECONDS), json.dumps(plan))
    student_proc = _start(EVERY_MISTAKE, "student", *args, student=installed)
    full_proc = _start(EVERY_MISTAKE, "full", *args)  # side by side, one core each
    try:
        student = _result(student_proc)
    finally:
        full = _result(full_proc)
    assert (
        sorted(student)
        == sorted(full)
        == sorted([p.stem for p in MISTAKES] + [f"unforeseen.{p.stem}" for p in UNFORESEEN])
    )
    for name in full:
        if name in FEWER_IN_STUDENT_BUILD:
            assert set(student[name]["diagnoses"]) <= set(full[name]["diagnoses"]), name
            continue
        assert student[name] == full[name], name
    named = {
        name
        for name in full
        if not name.startswith("unforeseen.")
        and expectation(SUBMISSIONS / "mistakes" / f"{name}.py")[1] in full[name]["diagnoses"]
    }
    assert len(named) > len(MISTAKES) // 2  # the comparison is about check() naming mistakes, mostly


# ------------------------------------------------------------------------ self-learners: the wheel alone

# qk_scores that raises what it sees: where it runs (its file, its process) and whether it can read the
# installed attnlab package (the public cases' data), which the sandbox hides from the worker.
PROBE = """\
import json as _json
import os as _os


def qk_scores(q, k):
    seen = {{"file": __file__, "pid": _os.getpid(), "package_readable": _os.path.exists({data!r})}}
    raise RuntimeError("probe " + _json.dumps(seen))
"""


@pytest.fixture(scope="module")
def student_venv(wheel, tmp_path_factory):
    """A venv that holds only the student wheel and what its metadata requires, as a self-learner's `pip install
    attnlab-*.whl` makes it. The requirements are pinned to the versions this environment has, so that pip finds
    them where it found ours. The venv (torch is most of its gigabyte) goes when the module's tests are done."""
    where = tmp_path_factory.mktemp("self-learner") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, capture_output=True, timeout=300)
    requires = [
        line.removeprefix("Requires-Dist: ")
        for line in _dist_info(wheel, "METADATA").splitlines()
        if line.startswith("Requires-Dist: ")
    ]
    pins = [
        f"{n}=={importlib.metadata.version(n)}" for n in (re.match(r"[A-Za-z0-9._-]+", r).group(0) for r in requires)
    ]
    t0 = time.perf_counter()
    done = subprocess.run(
        [str(where / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile", str(wheel), *pins],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"},
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    print(f"\nself-learner's venv: installed in {time.perf_counter() - t0:.0f} s")
    yield where
    shutil.rmtree(where, ignore_errors=True)


def _as_self_learner(venv: Path, folder: Path, *args: str, sandbox: str | None = None) -> subprocess.CompletedProcess:
    """Run `args` in `folder` with the venv's bin/ first on PATH, nothing of this checkout on sys.path, no attnlab
    settings (nor pytest's or xdist's from this run), and a cache of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "ATTNLAB_", "PYTEST_", "VIRTUAL_ENV"))}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        XDG_CACHE_HOME=str(folder / ".cache"),
        COLUMNS="200",  # rich's table, unwrapped
        **({"ATTNLAB_SANDBOX": sandbox} if sandbox else {}),
    )
    cmd = [str(venv / "bin" / args[0]), *args[1:]]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=folder, timeout=600)


SELF_LEARNER_FACTS = r"""
import importlib.metadata, json
import attnlab
facts = {"file": attnlab.__file__}
for name in ("attnlab.reference", "attnlab.answers", "attnlab.student_build", "attnlab.nbgrader", "attnlab.hub"):
    try:
        __import__(name)
        facts[name] = "imported"
    except ImportError as e:
        facts[name] = type(e).__name__
facts["entry_points"] = {g: sorted(f"{e.name} = {e.value}" for e in importlib.metadata.entry_points(group=g)
                                   if e.dist.name == "attnlab") for g in ("console_scripts", "pytest11")}
facts["dists"] = sorted(d.metadata["Name"].lower() for d in importlib.metadata.distributions())
print(json.dumps(facts))
"""


@pytest.fixture(scope="module")
def self_learner(student_venv, tmp_path_factory) -> dict:
    """What a self-learner sees in a scratch folder with the wheel alone: each command's result, by name."""
    folder = tmp_path_factory.mktemp("scratch")
    shutil.copyfile(BASE, folder / "correct.py")
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(BASE.read_text())]), folder / "correct.ipynb"
    )
    build_submission(SUBMISSIONS / "mistakes" / "missing_scale.py", folder)
    data = next(student_venv.glob("lib/python*/site-packages/attnlab/public_cases.json"))
    (folder / "probe.py").write_text(PROBE.format(data=str(data)))
    run = functools.partial(_as_self_learner, student_venv, folder)
    return {
        "folder": folder,
        "facts": run("python", "-c", SELF_LEARNER_FACTS),
        "check": run("attnlab", "check", "correct.py", "correct.ipynb", "missing_scale.py"),
        "probe": run("attnlab", "check", "--json", "--tasks", "qk_scores", "probe.py"),
        "probe, no sandbox": run("attnlab", "check", "--json", "--tasks", "qk_scores", "probe.py", sandbox="off"),
        "grade": run("attnlab", "grade", "correct.py"),
        "doctor": run("attnlab", "doctor", "--json"),
        "pytest": run("python", "-m", "pytest", "--attn-submission", "correct.py"),
        "pytest mistake": run(
            "python", "-m", "pytest", "--attn-submission", "missing_scale.py", "-m", "qk_scores or causal_mask"
        ),
        "pytest other seed": run("python", "-m", "pytest", "--attn-submission", "correct.py", "--attn-seed", "7"),
    }


@pytest.mark.slow
def test_self_learners_venv_holds_the_wheel_and_its_requirements_and_no_answers(self_learner, student_venv):
    facts = self_learner["facts"]
    assert facts.returncode == 0, facts.stderr[-3000:]
    facts = json.loads(facts.stdout)
    assert Path(facts["file"]).resolve().is_relative_to(student_venv.resolve())
    for name in ("attnlab.reference", "attnlab.answers", "attnlab.student_build", "attnlab.nbgrader"):
        assert facts[name] == "ModuleNotFoundError", name
    assert facts["entry_points"] == {
        g: sorted(f"{n} = {v}" for n, v in points.items()) for g, points in STUDENT_ENTRY_POINTS.items()
    }
    assert "pytest" in facts["dists"] and "nbgrader" not in facts["dists"] and "pytest-xdist" not in facts["dists"]


@pytest.mark.slow
def test_self_learners_attnlab_check_gives_full_marks_to_a_file_or_notebook_and_names_the_mistake(self_learner):
    done = self_learner["check"]
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert re.search(r"^correct\.py: ([\d.]+) / \1 *$", out, re.M), out
    assert re.search(r"^correct\.ipynb: ([\d.]+) / \1 *$", out, re.M), out  # nbformat came with the wheel
    assert re.search(r"^missing_scale\.py: [\d.]+ / [\d.]+ *$", out, re.M), out
    words = " ".join(out.replace("│", " ").split())  # the hint, as rich wrapped it in its column
    assert "missing_scale" in out and "did you forget to divide by sqrt(d)?" in words, out
    assert "known-correct" not in done.stderr  # no self-check: its known-correct submission would be the answers


@pytest.mark.slow
def test_self_learners_attnlab_check_grades_in_the_sandboxed_child(self_learner):
    """The probe runs in the worker, not in the process of `attnlab check`, and cannot read the installed package;
    its control, with the sandbox off, reads it: the sandbox is what hides it."""
    seen = {}
    for name in ("probe", "probe, no sandbox"):
        done = self_learner[name]
        assert done.returncode == 0, done.stderr[-3000:]
        (task,) = json.loads(done.stdout.splitlines()[-1])["tasks"]
        seen[name] = json.loads(re.search(r"probe (\{.*?\})", task["feedback"]).group(1))
    assert seen["probe"]["file"] == "/submission/probe.py" and seen["probe"]["package_readable"] is False
    assert seen["probe, no sandbox"]["package_readable"] is True
    # Without the sandbox too, the child loads a copy of the file: the grading process never loads it itself.
    assert seen["probe, no sandbox"]["file"] != str(self_learner["folder"] / "probe.py")


@pytest.mark.slow
def test_self_learners_attnlab_has_no_grade_and_a_doctor_without_self_check(self_learner):
    grade = self_learner["grade"]
    assert grade.returncode == 2 and grade.stdout == ""
    (line,) = grade.stderr.splitlines()
    assert "`attnlab grade` needs the full install" in line and "attnlab check FILE" in line
    doctor = self_learner["doctor"]
    assert doctor.returncode == 0, doctor.stderr[-3000:]
    report = json.loads(doctor.stdout)
    assert report["selfcheck"] is None and report["layers"]


@pytest.mark.slow
def test_self_learners_pytest_passes_correct_work_one_test_per_task(self_learner):
    done = self_learner["pytest"]
    assert done.returncode == 0, done.stdout[-3000:]
    assert "(student build: public cases, no self-check)" in done.stdout
    assert re.search(rf"^=+ {len(COURSE.tasks)} passed in ", done.stdout, re.M), done.stdout[-3000:]


@pytest.mark.slow
def test_self_learners_pytest_fails_the_mistake_with_its_diagnosis(self_learner):
    done = self_learner["pytest mistake"]
    assert done.returncode == 1, done.stdout[-3000:]
    out = done.stdout
    assert re.search(rf"^=+ 1 failed, 1 passed, {len(COURSE.tasks) - 2} deselected in ", out, re.M), out[-3000:]
    assert "FAILED " in out and "::qk_scores - qk_scores: " in out
    assert "did you forget to divide by sqrt(d)?" in out


@pytest.mark.slow
def test_self_learners_pytest_takes_only_the_public_seed(self_learner):
    done = self_learner["pytest other seed"]
    assert done.returncode == 4  # pytest's usage error
    assert f"this is attnlab's student build, which holds only the public cases (seed {COURSE.public_seed})" in (
        done.stderr
    )
