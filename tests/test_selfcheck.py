"""The self-check: no grading where a known-correct submission would lose points (``attnlab.running.selfcheck``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from attnlab.course import load_course
from attnlab.running import selfcheck
from conftest import REPO

EXAMPLE = REPO / "assignments" / "examples" / "correct.py"


class FakeZygote:
    """What the self-check and the grading service ask of a zygote: its sandbox mode, whether it still runs."""

    mode = "auto"

    class proc:
        @staticmethod
        def poll():
            return None  # still running

    def close(self):
        pass


def _result(total: float, lost: str | None = None) -> dict:
    tasks = [
        {
            "id": "qk_scores",
            "score": 15.0 if lost is None else 5.0,
            "max_score": 15.0,
            "status": "passed" if lost is None else "partial",
            "feedback": lost or "all cases pass.",
        }
    ]
    return {
        "total": total,
        "max_total": 100.0,
        "tasks": tasks,
        "output": "attnlab: the grader's sandbox could not be set up: OSError: mount" if lost else "",
    }


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    runs = []

    def run(zygote, course, *, device="auto"):
        runs.append(device)
        return fresh.result

    monkeypatch.setattr(selfcheck, "run", run)
    fresh.runs = runs
    return fresh


def test_a_pass_is_cached_per_environment(fresh):
    course = load_course(REPO / "course.yml")
    fresh.result = _result(100.0)
    selfcheck.ensure(FakeZygote(), course)
    selfcheck.ensure(FakeZygote(), course)  # as a new process would: the file remembers
    assert fresh.runs == ["auto"]
    assert len(json.loads(selfcheck.cache_file().read_text())) == 1
    # Another sandbox mode, device or course is another environment: checked again.
    selfcheck.ensure(FakeZygote(), course, device="cpu")
    other = course.model_copy(update={"limits": course.limits.model_copy(update={"task_seconds": 2.0})})
    selfcheck.ensure(FakeZygote(), other)
    assert fresh.runs == ["auto", "cpu", "auto"]


def test_a_failure_refuses_in_one_line_naming_the_task_and_doctor_and_is_not_cached(fresh):
    course = load_course(REPO / "course.yml")
    fresh.result = _result(90.0, lost="on q (2, 3) float32, your code ended the Python process.")
    with pytest.raises(selfcheck.SelfCheckFailed) as failed:
        selfcheck.ensure(FakeZygote(), course)
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("refusing to grade: a known-correct submission scores 90/100")
    assert "qk_scores partial" in message and "attnlab doctor" in message
    assert "the worker said: attnlab: the grader's sandbox could not be set up" in message
    assert not selfcheck.cache_file().exists()


def test_the_grading_service_checks_once_and_says_a_refusal_again_at_once(fresh):
    """Every later grade of the same course in that process (every later notebook of an nbgrader run): the same
    words, with no second self-check; a pass is not checked again either."""
    from attnlab.running.service import GradingService

    course = load_course(REPO / "course.yml")
    service = GradingService(start=False, self_check=True)
    service._zygote = FakeZygote()
    fresh.result = _result(90.0, lost="on q (2, 3) float32, your code ended the Python process.")
    with pytest.raises(selfcheck.SelfCheckFailed) as first:
        service.zygote(course)
    with pytest.raises(selfcheck.SelfCheckFailed) as again:
        service.zygote(course)
    assert str(again.value) == str(first.value) and len(fresh.runs) == 1
    fresh.result = _result(100.0)
    assert service.zygote(course, device="cpu") is service._zygote  # another device: checked, and it passes
    service.zygote(course, device="cpu")
    assert fresh.runs == ["auto", "cpu"]
    assert GradingService(start=False, self_check=False).self_check is False  # the student build: no check


def test_an_unwritable_cache_only_means_checking_again(fresh, tmp_path, monkeypatch):
    (tmp_path / "attnlab").write_text("a file where the cache folder should be")
    course = load_course(REPO / "course.yml")
    fresh.result = _result(100.0)
    selfcheck.ensure(FakeZygote(), course)
    assert fresh.runs == ["auto"]


def test_the_known_correct_submission_is_the_reference():
    name, source = selfcheck.known_correct()
    assert name.endswith(".py") and "def qk_scores" in source and "class MultiHeadAttention" in source


@pytest.mark.slow
def test_grade_refuses_where_correct_work_would_lose_points(tmp_path):
    """A course whose time limit no task can meet: the class would get zeros, so nothing is graded."""
    course = yaml.safe_load((REPO / "course.yml").read_text())
    course["limits"]["task_seconds"] = 0.001
    path = tmp_path / "course.yml"
    path.write_text(yaml.safe_dump(course))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "attnlab.cli", "grade", "--json", "--seed", "1", "--course", str(path), str(EXAMPLE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 3, out.stderr
    assert out.stdout == ""
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(
        "attnlab: refusing to grade: a known-correct submission scores 0/125"
    )
    assert "timeout" in lines[0] and "attnlab doctor" in lines[0]


@pytest.mark.slow
def test_nbgrader_autograde_refuses_too(tmp_path, monkeypatch):
    """TrustedGrades (nbgrader's autograde step) raises instead of writing grades, for every notebook."""
    import nbformat
    from attnlab.nbgrader import TrustedGrades

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    course = yaml.safe_load((REPO / "course.yml").read_text())
    course["limits"]["task_seconds"] = 0.001
    (notebook,) = (REPO / "assignments" / "source" / "lesson1_qk_scores").glob("*.ipynb")
    nb = nbformat.read(str(notebook), as_version=4)
    grades = TrustedGrades(course=course, seed=1, run_kernel="never")
    with pytest.raises(selfcheck.SelfCheckFailed, match="refusing to grade"):
        grades.preprocess(nb, {"unique_key": "alice"})
