"""A course's own tasks (examples/own_task/), graded end to end with no edit inside attnlab: by `attnlab grade`,
the pytest plugin, check() in the student build, and nbgrader's whole cycle.

The course adds two tasks to attnlab's eight, each a module in its own folder written against attnlab.task_api
alone: alibi_bias (ALiBi's per-head distance penalty, with no named slips: the describer names its mistakes)
and alibi_attention (which calls the student's own qk_scores and softmax_with_temperature, replayed across the
boundary, and has one named slip). The unit tests of the API are in tests/unit/test_task_api.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import install_wheel
from test_nbgrader import edit_solution, fill_solutions, nbgrader, read_gradebook, student_exchange

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "own_task"
COURSE = EXAMPLE / "course.yml"
SUBMISSIONS = EXAMPLE / "submissions"
SEED = 3

#: What each example submission gets on the course's own tasks: the task, its score, and the id that names it.
EXPECTED = {
    "correct.py": ("alibi_bias", 10, None),
    "slopes_reversed.py": ("alibi_bias", None, "index_map"),
    "slope_from_zero.py": ("alibi_bias", None, "index_map"),
    "sign_flipped.py": ("alibi_bias", None, "scaled_values"),
    "no_abs.py": ("alibi_bias", None, "region_split"),
    "heads_last.py": ("alibi_bias", 0, "dims_reordered"),
    "attention_correct.py": ("alibi_attention", 10, None),
    "attention_noscale.py": ("alibi_attention", 10, None),  # its qk_scores is wrong, and charged alone
    "attention_distance_rewarded.py": ("alibi_attention", None, "alibi_distance_rewarded"),
}

pytestmark = pytest.mark.slow


def _cli(*args: str, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "attnlab.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600
    )


@pytest.fixture(scope="module")
def graded() -> dict:
    """`attnlab grade --json` on every example submission, as an instructor runs it."""
    tasks = "qk_scores,softmax_with_temperature,alibi_bias,alibi_attention"
    out = _cli("grade", str(SUBMISSIONS), "--course", str(COURSE), "--tasks", tasks, "--seed", str(SEED), "--json")
    assert out.returncode in (0, 1), out.stderr[-3000:]
    results = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return {Path(r["submission"]).name: {t["id"]: t for t in r["tasks"]} for r in results}


def test_attnlab_grade_scores_right_work_full_and_names_each_slip(graded):
    assert set(graded) == set(EXPECTED)
    for name, (task_id, score, named) in EXPECTED.items():
        task = graded[name][task_id]
        if score is not None:
            assert task["score"] == score, (name, task["feedback"])
        else:
            assert 0 < task["score"] < task["max_score"] or task["score"] == 0, (name, task)
        if named is None:
            assert task["status"] == "passed", (name, task["feedback"])
        else:
            assert task["diagnoses"][0] == named, (name, task["feedback"])
    assert "your heads run in reverse" in graded["slopes_reversed.py"]["alibi_bias"]["feedback"]
    # across the boundary: the wrong qk_scores is charged to qk_scores, the course's task that calls it is not
    noscale = graded["attention_noscale.py"]
    assert noscale["qk_scores"]["diagnoses"][0] == "missing_scale" and noscale["qk_scores"]["score"] < 15


def test_the_pytest_plugin_grades_a_course_task_as_its_own(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-W",
            "error::pytest.PytestUnknownMarkWarning",
            "--attn-submission",
            str(SUBMISSIONS / "slopes_reversed.py"),
            "--attn-course",
            str(COURSE),
            "-k",
            "alibi_bias",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-3000:]
    assert "FAILED" in out.stdout and "slopes_reversed.py::alibi_bias" in out.stdout, out.stdout[-3000:]
    assert "your heads run in reverse" in out.stdout


@pytest.fixture(scope="module")
def student_site(tmp_path_factory) -> Path:
    """The student build made for the example course, installed into a folder of its own as pip installs it."""
    from attnlab.student_build import build
    from attnlab.task_api import uninstall

    try:
        wheel = build(tmp_path_factory.mktemp("own-dist"), COURSE)  # loads the course here: its tasks out again
    finally:
        for tid in ("alibi_bias", "alibi_attention"):
            uninstall(tid)
    site = tmp_path_factory.mktemp("own-site")
    install_wheel(wheel, site)
    return site


def test_check_in_the_student_build_says_what_the_grader_says_and_it_holds_no_line_of_the_reference(
    student_site, graded
):
    import site

    from attnlab.student_build import course_answers, find_leaks

    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1])\n"
        "import attnlab.judging.cases as c\n"
        "from attnlab.notebook_check import verdict, _judged\n"
        "import correct, slopes_reversed\n"
        "out = {'answers': c.answers() is not None}\n"
        "for m in (correct, slopes_reversed):\n"
        "    said, result = _judged(m.alibi_bias, seed=None, course=None)\n"
        "    out[m.__name__] = [said.score, result.feedback]\n"
        "print(json.dumps(out))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "ATTNLAB_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(student_site), *site.getsitepackages()])
    out = subprocess.run(
        [sys.executable, "-S", "-c", code, str(SUBMISSIONS)],
        capture_output=True,
        text=True,
        env=env,
        cwd=student_site.parent,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    said = json.loads(out.stdout.strip().splitlines()[-1])
    assert said["answers"] is False  # the student build: no reference here
    assert said["correct"][0] == 10
    assert "your heads run in reverse" in said["slopes_reversed"][1]
    # No line of the course's references in what students install; the control: the scan finds a planted one.
    from attnlab.course import load_course
    from attnlab.task_api import uninstall

    try:
        answers = course_answers(load_course(COURSE))  # installs the course's tasks in this process: out again
    finally:
        for tid in ("alibi_bias", "alibi_attention"):
            uninstall(tid)
    assert set(answers) == {"alibi_bias (the course's reference)", "alibi_attention (the course's reference)"}
    assert find_leaks([student_site], answers=answers) == []
    planted = student_site / "attnlab" / "planted.py"
    planted.write_text((EXAMPLE / "tasks" / "alibi_bias.py").read_text())
    try:
        assert any("the course's reference" in f for f in find_leaks([student_site], answers=answers))
    finally:
        planted.unlink()


def test_nbgrader_grades_the_courses_own_lesson_with_the_trusted_scores(tmp_path, graded):
    """generate, release, fetch, submit, collect, autograde and feedback for the ALiBi lesson: a student with it
    right, and one with the heads' slopes reversed, whose feedback names it."""
    import yaml
    from attnlab.course import load_course
    from attnlab.running.grade import grade_paths
    from attnlab.task_api import uninstall

    root = tmp_path / "course"
    (root / "tasks").mkdir(parents=True)
    for name in ("alibi_bias.py", "alibi_attention.py"):
        (root / "tasks" / name).write_text((EXAMPLE / "tasks" / name).read_text())
    data = yaml.safe_load(COURSE.read_text())
    data["tasks"] = [t for t in data["tasks"] if t["id"] == "alibi_bias"]
    (root / "course.yml").write_text(yaml.safe_dump(data))
    exchange = root / "exchange"
    exchange.mkdir()
    config = _cli("nbgrader-config", "--course", str(root / "course.yml"), "--exchange", str(exchange))
    assert config.returncode == 0, config.stderr
    (root / "nbgrader_config.py").write_text(config.stdout)
    env = {**os.environ, "ATTNLAB_SECRET_SEED": str(SEED)}
    lesson = "alibi"
    (root / "source" / lesson).mkdir(parents=True)
    source = nbformat.read(EXAMPLE / "source" / lesson / f"{lesson}.ipynb", as_version=4)
    nbformat.write(source, str(root / "source" / lesson / f"{lesson}.ipynb"))
    nbgrader(root, ["generate_assignment", lesson], ["release_assignment", lesson], env=env)
    course = load_course(root / "course.yml")  # installs the task in this process too: taken out at the end
    students = {"right": False, "reversed": True}
    try:
        for student, slopes_reversed in students.items():
            home = root / "home" / student
            home.mkdir(parents=True)
            student_exchange("fetch", course.course_id, exchange, home, lesson, student)
            path = home / lesson / f"{lesson}.ipynb"
            nb = nbformat.read(str(path), as_version=4)
            fill_solutions(nb, source)
            if slopes_reversed:
                old, new = "torch.arange(1, n_heads + 1) / n_heads", "torch.arange(n_heads, 0, -1) / n_heads"
                edit_solution(nb, "alibi_bias_solution", old, new)
            nbformat.write(nb, str(path))
            student_exchange("submit", course.course_id, exchange, home, lesson, student)
        nbgrader(root, ["collect", lesson], ["autograde", lesson], ["generate_feedback", lesson], env=env)
        book = read_gradebook(root, course.course_id, [(lesson, s) for s in students])
        submitted = [root / "submitted" / s / lesson / f"{lesson}.ipynb" for s in students]
        trusted = grade_paths(submitted, course=course, seed=SEED, task_ids=["alibi_bias"])
    finally:
        uninstall("alibi_bias")
    for student, result in zip(students, trusted):
        (task,) = result["tasks"]
        assert book[lesson, student]["alibi_bias"][:2] == (task["score"], 10.0), (student, task["feedback"])
    assert book[lesson, "right"]["alibi_bias"][0] == 10.0 and book[lesson, "reversed"]["alibi_bias"][0] < 10
    page = (root / "feedback" / "reversed" / lesson / f"{lesson}.html").read_text()
    assert "your heads run in reverse" in page
