"""Shared fixtures: one warm grader process for the whole session, and submissions built on disk.

A mistake or hostile file is an override: the submission is `submissions/base.py` followed by it, so
later definitions replace the base's. A file whose first line is `# hostile: ...` and that must run
before anything else says so with `# position: start`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SUBMISSIONS = HERE / "submissions"
BASE = SUBMISSIONS / "base.py"
REPO = HERE.parent

# The flags every browser test gives Debian's chromium (Playwright's executable_path): no sandbox as root, no GPU,
# nothing fetched in the background.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def skip_without_browser(*also: str) -> None:
    """Skip the calling module, with one line that names the missing piece, where Playwright or Chromium (or
    any of the programs in `also`) is missing; `make install` installs them. The suite's summary repeats it."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("BROWSER TESTS SKIPPED: missing playwright (pip install -e '.[test]')", allow_module_level=True)
    for program in ("chromium", *also):
        if shutil.which(program) is None:
            pytest.skip(
                f"BROWSER TESTS SKIPPED: missing {program} (`make install` installs it)", allow_module_level=True
            )


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, driven by Playwright (never a downloaded browser), for one test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


# The judge swallows an exception in the describer so that it never costs a grade; here it must fail the test.
os.environ.setdefault("ATTNLAB_STRICT_DESCRIBE", "1")

# Hostile and timeout tests use short limits; raise them on a slow machine with ATTNLAB_TEST_TASK_SECONDS.
TASK_SECONDS = float(os.environ.get("ATTNLAB_TEST_TASK_SECONDS", "3"))


def build(override: Path, dest: Path) -> Path:
    """Write base.py plus `override` (or the other way round, for `# position: start`) to `dest`."""
    text = override.read_text()
    base = BASE.read_text()
    full = text + "\n\n" + base if "# position: start" in text else base + "\n\n" + text
    out = dest / override.name
    out.write_text(full)
    return out


def expectation(path: Path) -> tuple[str, str]:
    """`# expect: TASK DIAGNOSIS` from a mistake file's first line."""
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: TASK DIAGNOSIS'"
    task, diag = first.removeprefix("# expect: ").split()[:2]
    return task, diag


@pytest.fixture(scope="session")
def course():
    from attnlab.course import load_course

    c = load_course(REPO / "course.yml")
    return c.model_copy(
        update={"limits": c.limits.model_copy(update={"task_seconds": TASK_SECONDS, "load_seconds": TASK_SECONDS * 2})}
    )


@pytest.fixture(scope="session")
def zygote():
    from attnlab.running.processes import Zygote

    z = Zygote()
    yield z
    z.close()


@pytest.fixture(scope="session")
def grade(course, zygote):
    """grade(path, tasks=None, seed=...) -> the result dict, through the real child process."""
    from attnlab.running.grade import grade_paths

    def run(path, tasks=None, seed=11):
        (result,) = grade_paths([path], course=course, seed=seed, task_ids=tasks, zygote=zygote)
        return result

    return run


def task_of(result: dict, task_id: str) -> dict:
    return next(t for t in result["tasks"] if t["id"] == task_id)


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA device; reported as pending where there is none")


#: The longest test files, started first: under `--dist loadfile` a file runs whole on one worker, and a long
#: one scheduled last would run alone at the end while the other workers wait.
LONGEST_FIRST = (
    "test_hub.py",
    "test_hostile_nbgrader.py",
    "test_nbgrader.py",
    "test_autograde.py",
    "test_staff_views.py",
    "test_environments.py",
    "test_class_grading.py",
    "test_dask.py",
)


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: LONGEST_FIRST.index(item.path.name) if item.path.name in LONGEST_FIRST else 99)
    import torch

    if torch.cuda.is_available():
        return
    pending = pytest.mark.skip(reason="pending: needs a CUDA GPU, and this machine has none")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(pending)


def pytest_terminal_summary(terminalreporter):
    skipped = terminalreporter.stats.get("skipped", [])
    pending = [r for r in skipped if "pending: needs a CUDA GPU" in str(r.longrepr)]
    if pending:
        terminalreporter.write_line(f"{len(pending)} GPU tests pending: no CUDA device on this machine", yellow=True)
    for browser in {str(r.longrepr[2]) for r in skipped if "BROWSER TESTS SKIPPED" in str(r.longrepr)}:
        terminalreporter.write_line(browser.removeprefix("Skipped: "), red=True, bold=True)


def install_wheel(wheel: Path, target: Path) -> None:
    """`wheel` installed the way pip installs it, alone (no dependencies, no index), into the folder `target`."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
