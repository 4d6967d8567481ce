"""Correct work scores full wherever attnlab is installed: the environments courses meet, built for real.

Each environment is a fresh venv with attnlab installed into it, editable or as a built wheel, in the
places that have broken the grader before: under /tmp (which the worker's own /tmp once covered),
inside a checkout under /work (a self-learner's ``python -m venv .venv``; the worker's /work once
covered it), and under /home. Each grades the bundled correct example and one typical mistake through
``attnlab grade`` in that venv, in the sandbox modes a course meets: ``auto``, ``landlock`` (a
container without user namespaces) and ``off``. The correct file must score full and the mistake must
get the same diagnoses everywhere. Every run also passes the self-check (a fresh cache each time).

For speed the venvs do not install torch and the other dependencies again: a ``.pth`` file adds the
running interpreter's site-packages after the venv's own, so ``attnlab`` itself resolves from inside
the venv (asserted), and everything else from the shared folder, as with ``--system-site-packages``.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest
from conftest import REPO
from test_sandbox import user_namespaces_work

pytestmark = pytest.mark.slow

EXAMPLES = REPO / "assignments" / "examples"
CORRECT, MISTAKE = "correct.py", "forgot_sqrt_d.py"
SEED = 5


def _deps_paths() -> list[str]:
    """Where this interpreter finds torch and the rest: its site-packages folders."""
    paths = [*site.getsitepackages(), site.getusersitepackages(), sysconfig.get_paths()["purelib"]]
    return list(dict.fromkeys(p for p in paths if os.path.isdir(p)))


def _make_venv(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    python = where / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "zz_attnlab_test_deps.pth").write_text("\n".join(_deps_paths()) + "\n")
    return python


def _pip(python: Path, *args: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        *args,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]


def _scratch(top: str) -> Path:
    """A fresh folder under `top` (/work, /home), made when root may; skipped where it cannot be."""
    try:
        os.makedirs(top, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="attnlab-env-", dir=top))
    except OSError as e:
        pytest.skip(f"cannot make a folder under {top} here ({e.strerror}); run as root to test it")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(out),
        str(REPO),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (whl,) = out.glob("attnlab-*.whl")
    return whl


@pytest.fixture(scope="module")
def envs(tmp_path_factory, wheel):
    """name -> (python, folder of submissions): the three installs, each with its own copy of the examples."""
    made: dict[str, tuple[Path, Path]] = {}
    cleanup: list[Path] = []

    def submissions(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name in (CORRECT, MISTAKE):
            shutil.copyfile(EXAMPLES / name, folder / name)
        return folder

    # 1. A venv under /tmp with an editable install of this checkout; submissions under /tmp.
    tmp = tmp_path_factory.mktemp("tmpvenv")
    python = _make_venv(tmp / "venv")
    _pip(python, "-e", str(REPO))
    made["tmp-editable"] = (python, submissions(tmp / "subs"))

    # 2. A checkout under /work with its own .venv inside it, editable: the self-learner's set-up.
    work = _scratch("/work")
    cleanup.append(work)
    checkout = work / "attnlab"
    shutil.copytree(
        REPO,
        checkout,
        ignore=shutil.ignore_patterns(".git", "*.egg-info", "build", "dist", "__pycache__", ".venv*", "reports"),
    )
    python = _make_venv(checkout / ".venv")
    _pip(python, "-e", str(checkout))
    made["work-checkout-editable"] = (python, submissions(work / "subs"))

    # 3. A venv under /home with the built wheel (a non-editable install); submissions under /tmp.
    home = _scratch("/home")
    cleanup.append(home)
    python = _make_venv(home / "venv")
    _pip(python, str(wheel))
    made["home-wheel"] = (python, submissions(tmp_path_factory.mktemp("homesubs")))
    yield made
    for folder in cleanup:
        shutil.rmtree(folder, ignore_errors=True)


def _grade(python: Path, subs: Path, mode: str, cache: Path) -> tuple[list[dict], str]:
    env = {**os.environ, "ATTNLAB_SANDBOX": mode, "XDG_CACHE_HOME": str(cache)}
    env.pop("PYTHONPATH", None)
    cmd = [
        str(python),
        "-m",
        "attnlab.cli",
        "grade",
        "--json",
        "--seed",
        str(SEED),
        str(subs / CORRECT),
        str(subs / MISTAKE),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cache, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return [json.loads(line) for line in out.stdout.splitlines()], out.stderr


CASES = [
    ("tmp-editable", "auto"),
    ("tmp-editable", "landlock"),
    ("tmp-editable", "off"),
    ("work-checkout-editable", "auto"),
    ("work-checkout-editable", "landlock"),
    ("home-wheel", "auto"),
]


@pytest.fixture(scope="module")
def mistake_diagnoses():
    """The diagnoses of the mistake file graded by this test process's own install, to compare with."""
    from attnlab.running.grade import grade_paths

    (result,) = grade_paths([EXAMPLES / MISTAKE], course=_course(), seed=SEED)
    return {t["id"]: t["diagnoses"] for t in result["tasks"]}


def _course():
    from attnlab.course import load_course

    return load_course(REPO / "course.yml")


@pytest.mark.parametrize(("env_name", "mode"), CASES, ids=[f"{e}-{m}" for e, m in CASES])
def test_correct_work_scores_full_and_the_mistake_is_named_the_same(envs, env_name, mode, mistake_diagnoses, tmp_path):
    python, subs = envs[env_name]
    where = subprocess.run(
        [str(python), "-c", "import attnlab; print(attnlab.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout.strip()
    if env_name == "home-wheel":
        assert where.startswith(str(python.parent.parent)), where  # attnlab from the venv's own site-packages
    else:
        assert where.startswith(str(REPO if env_name == "tmp-editable" else python.parent.parent.parent)), where
    (correct, mistake), stderr = _grade(python, subs, mode, tmp_path)
    assert correct["total"] == correct["max_total"] == sum(t.points for t in _course().tasks), [
        (t["id"], t["status"], t["feedback"]) for t in correct["tasks"] if t["score"] < t["max_score"]
    ]
    assert {t["id"]: t["diagnoses"] for t in mistake["tasks"]} == mistake_diagnoses
    assert "missing_scale" in mistake_diagnoses["qk_scores"]
    assert (tmp_path / "attnlab" / "selfcheck.json").exists()  # the self-check ran, and passed, here
    if mode == "off":
        assert "switched off by ATTNLAB_SANDBOX=off" in stderr
    elif mode == "auto" and user_namespaces_work():
        # Not merely graded: graded in the full sandbox, with no layer given up for this install's paths.
        assert "attnlab: sandbox:" not in stderr, stderr


def test_a_wheel_install_enables_the_formgrader_guard_and_an_editable_one_does_not(envs):
    """The data file in the wheel enables attnlab.formgrader_guard in that Python's Jupyter; an editable install
    has no data files, which is why `attnlab hub` enables it in the instructor's configuration itself."""

    def listed(name: str) -> list[str]:
        python, _ = envs[name]
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
        cmd = [str(python), "-m", "jupyter_server", "extension", "list"]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        return [line for line in (out.stdout + out.stderr).splitlines() if "attnlab.formgrader_guard" in line]

    wheel = listed("home-wheel")
    assert any("enabled" in line for line in wheel) and any("OK" in line for line in wheel), wheel
    assert not any("enabled" in line for line in listed("tmp-editable"))
