"""The whole nbgrader cycle on the five lessons, with attnlab's trusted scores, end to end.

One course is built in a temporary folder from `assignments/source/` and driven as an instructor and
students would drive it, with a real sqlite gradebook and nbgrader's own exchange:

    instructor: generate_assignment, release_assignment          (nbgrader's command-line app)
    students:   fetch_assignment, edit, submit                    (nbgrader's exchange classes)
    instructor: collect, autograde, generate_feedback, export     (nbgrader's command-line app)

The instructor's commands run as `nbgrader ARGS` does (nbgrader's app, reading the course's
nbgrader_config.py), several to a process (attnlab.nbgrader.steps) rather than one process each.

The instructor adds a hidden-test region to lesson 1's grade cell, as instructors do; it must never
reach a student. The students:

- correct: every solution right;
- noscale: qk_scores without / sqrt(d) in lesson 1, the typical mistake: partial credit;
- notemp: a softmax that ignores the temperature in lesson 2, the other typical mistake;
- halves: a positional encoding with its sines in the first half of the columns and its cosines in the
  second (lesson 5), a slip no rule was written for, which the describer names;
- cheater: noscale's lesson 1, plus the in-kernel tricks that fool plain nbgrader: a replaced
  torch.allclose, an input transformer that turns every later cell into `pass`, and a `check` that
  returns the full score as a number;
- warner: right, but its qk_scores makes torch warn on stderr (plain nbgrader zeroes such a cell);
- exiter: right, then a cell in lesson 3 calls os._exit(1);
- looper: right, then an endless loop at top level in lesson 3;
- tamperer: right, but deletes lesson 1's grade cell and rewrites lesson 3's attention grade cell to
  print the full score.

Every student notebook also opens with a cell that writes a marker file into the course folder. By
default (``TrustedGrades.run_kernel = "auto"``) no student code runs in a Jupyter kernel, and the
sandboxed grader cannot reach the course folder, so no marker appears. The gradebook must hold, for
every student, lesson and task, exactly what attnlab's trusted grader gives the same notebook with the
same seed. A second autograde of lesson 1 with ``run_kernel = "always"`` runs the kernel as plain
nbgrader does (the markers appear), where the cheats and the stderr warning would otherwise count.
"""

from __future__ import annotations

import csv
import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from attnlab.course import load_course
from attnlab.nbgrader import FEEDBACK, PICTURE_ALT, nbgrader_config
from attnlab.nbgrader.steps import run_steps
from nbformat.v4 import new_code_cell

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "assignments" / "source"
SEED = 20240607
LESSONS = {
    "lesson1_qk_scores": ["qk_scores"],
    "lesson2_softmax": ["softmax_with_temperature"],
    "lesson3_masking": ["causal_mask", "attention", "plot_attention"],
    "lesson4_multi_head": ["multi_head_attention"],
    "lesson5_order_and_memory": ["positional_encoding", "kv_cache_attention"],
}
HIDDEN = "HIDDEN-TEST-b7e1f0"  # only in the hidden-test region the instructor adds to lesson 1's grade cell
HIDDEN_REGION = f"\n### BEGIN HIDDEN TESTS\n_hidden_probe = {HIDDEN!r}\n### END HIDDEN TESTS"
CHEAT = """\
import torch
torch.allclose = lambda *args, **kwargs: True

def _every_later_cell_passes(lines):
    return ["pass\\n"]

get_ipython().input_transformers_cleanup.append(_every_later_cell_passes)
"""
WARNING_QK = (
    "torch.meshgrid(torch.arange(1), torch.arange(1))  # UserWarning: pass the indexing argument\n"
    "    return q @ k.transpose(-2, -1) / math.sqrt(d)"
)
MARKER = """\
from pathlib import Path

try:  # only code running outside attnlab's sandbox can reach the course folder
    Path({folder!r}, {name!r}).write_text("student code ran here")
except OSError:
    pass
"""
# Who submits which lessons: everyone's own lesson, and the correct student all five.
SUBMITS = {
    "correct": list(LESSONS),
    "noscale": ["lesson1_qk_scores"],
    "notemp": ["lesson2_softmax"],
    "halves": ["lesson5_order_and_memory"],
    "cheater": ["lesson1_qk_scores"],
    "warner": ["lesson1_qk_scores"],
    "exiter": ["lesson3_masking"],
    "looper": ["lesson3_masking"],
    "tamperer": ["lesson1_qk_scores", "lesson3_masking"],
}
STUDENTS = list(SUBMITS)
PAIRS = [(lesson, student) for student, lessons in SUBMITS.items() for lesson in lessons]
LESSON1 = [s for s in STUDENTS if "lesson1_qk_scores" in SUBMITS[s]]


def edit_solution(nb, grade_id: str, old: str, new: str) -> None:
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    assert old in cell.source, (grade_id, old)
    cell.source = cell.source.replace(old, new)


def index_of(nb, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def fill_solutions(nb, source) -> None:
    """Put the source notebook's solution cells into release notebook `nb`, by grade_id: the right work."""
    solutions = {
        c.metadata.nbgrader["grade_id"]: c.source
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            cell.source = solutions[grade_id]


def answer(student: str, lesson: str, fetched, source, markers: Path) -> nbformat.NotebookNode:
    """The fetched release notebook with this student's work in it."""
    nb = nbformat.from_dict(fetched)
    nb.cells.insert(0, new_code_cell(MARKER.format(folder=str(markers), name=f"{lesson}-{student}")))
    fill_solutions(nb, source)
    if lesson == "lesson1_qk_scores" and student in ("noscale", "cheater"):
        edit_solution(nb, "qk_scores_solution", " / math.sqrt(d)", "")
    if lesson == "lesson1_qk_scores" and student == "cheater":
        nb.cells.insert(
            index_of(nb, "qk_scores"), new_code_cell("check = lambda fn: 15.0  # the grade cell now prints 15.0")
        )
        nb.cells.insert(1, new_code_cell(CHEAT))
    if lesson == "lesson1_qk_scores" and student == "warner":
        edit_solution(nb, "qk_scores_solution", "return q @ k.transpose(-2, -1) / math.sqrt(d)", WARNING_QK)
    if lesson == "lesson2_softmax" and student == "notemp":
        edit_solution(nb, "softmax_with_temperature_solution", "(scores - top) / t)", "(scores - top))")
    if lesson == "lesson5_order_and_memory" and student == "halves":
        edit_solution(
            nb,
            "positional_encoding_solution",
            "pe[:, 0::2] = torch.sin(angle)",
            "pe[:, : d_model // 2] = torch.sin(angle)",
        )
        edit_solution(
            nb,
            "positional_encoding_solution",
            "pe[:, 1::2] = torch.cos(angle)",
            "pe[:, d_model // 2 :] = torch.cos(angle)",
        )
    if lesson == "lesson3_masking" and student in ("exiter", "looper"):
        code = "import os\nos._exit(1)" if student == "exiter" else "while True:\n    pass"
        nb.cells.insert(index_of(nb, "plot_attention_check") + 1, new_code_cell(code))
    if student == "tamperer" and lesson == "lesson1_qk_scores":
        del nb.cells[index_of(nb, "qk_scores")]
    if student == "tamperer" and lesson == "lesson3_masking":
        nb.cells[index_of(nb, "attention")].source = "print(20.0)\n20.0"
    return nb


def nbgrader(root: Path, *commands: list[str], env: dict) -> list[subprocess.CompletedProcess]:
    """`nbgrader ARGS` from `root` for each ARGS in `commands`, in order, all in one process."""
    done = run_steps([(root, args) for args in commands], env=env, timeout=600)
    for out in done:
        assert out.returncode == 0, f"{' '.join(out.args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
        # nbgrader logs a broken nbgrader_config.py and goes on without it, grading the untrusted way.
        assert "Exception while loading config file" not in out.stderr, out.stderr[-6000:]
    return done


def student_exchange(action: str, course_id: str, exchange: Path, home: Path, lesson: str, student: str) -> None:
    """What `nbgrader fetch_assignment` / `nbgrader submit` do for a student, through nbgrader's own classes."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default import ExchangeFetchAssignment, ExchangeSubmit
    from traitlets.config import Config

    c = Config()
    c.Exchange.root = str(exchange)
    c.Exchange.assignment_dir = str(home)
    c.CourseDirectory.course_id = course_id
    c.CourseDirectory.assignment_id = lesson
    c.CourseDirectory.student_id = student  # on JupyterHub: the hub user, not the OS user
    coursedir = CourseDirectory(config=c)
    cls = {"fetch": ExchangeFetchAssignment, "submit": ExchangeSubmit}[action]
    cls(coursedir=coursedir, authenticator=Authenticator(config=c), config=c).start()


def read_gradebook(root: Path, course_id: str, pairs: list) -> dict:
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id) as gb:
        for lesson, student in pairs:
            nb = gb.find_submission_notebook(lesson, lesson, student)
            out[lesson, student] = {g.name: (g.auto_score, g.max_score, g.needs_manual_grade) for g in nb.grades}
    return out


def trusted_scores(paths: dict, course, seed: int, zygote) -> dict:
    from attnlab.running.grade import grade_paths

    out = {}
    for lesson in LESSONS:
        mine = [k for k in paths if k[0] == lesson]
        results = grade_paths(
            [paths[k] for k in mine], course=course, seed=seed, task_ids=LESSONS[lesson], zygote=zygote
        )
        out.update({k: {t["id"]: t for t in r["tasks"]} for k, r in zip(mine, results)})
    return out


@pytest.fixture(scope="module")
def course_run(tmp_path_factory, zygote):
    """Release, fetch, submit, collect, autograde, give feedback and export once."""
    root = tmp_path_factory.mktemp("course")
    data = yaml.safe_load((REPO / "course.yml").read_text())
    data["limits"].update(task_seconds=3, load_seconds=5)  # also the kernel's per-cell timeout (5 s)
    (root / "course.yml").write_text(yaml.safe_dump(data))
    course = load_course(root / "course.yml")
    exchange = root / "exchange"
    exchange.mkdir()
    # As the README says: `attnlab nbgrader-config > nbgrader_config.py`.
    config = subprocess.run(
        [
            sys.executable,
            "-m",
            "attnlab.cli",
            "nbgrader-config",
            "--course",
            str(root / "course.yml"),
            "--exchange",
            str(exchange),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert config == nbgrader_config(course, exchange_root=str(exchange))
    (root / "nbgrader_config.py").write_text(config)
    env = {**os.environ, "ATTNLAB_SECRET_SEED": str(SEED)}

    sources = {}
    for lesson in LESSONS:
        (root / "source" / lesson).mkdir(parents=True)
        nb = nbformat.read(SOURCE / lesson / f"{lesson}.ipynb", as_version=4)
        if lesson == "lesson1_qk_scores":
            nb.cells[index_of(nb, "qk_scores")].source += HIDDEN_REGION
        nbformat.write(nb, str(root / "source" / lesson / f"{lesson}.ipynb"))
        sources[lesson] = nb
    nbgrader(
        root, *[[step, lesson] for lesson in LESSONS for step in ("generate_assignment", "release_assignment")], env=env
    )

    markers = root / "ran"
    markers.mkdir()
    submitted = {}
    for student in STUDENTS:
        home = root / "home" / student
        home.mkdir(parents=True)
        for lesson in SUBMITS[student]:
            student_exchange("fetch", course.course_id, exchange, home, lesson, student)
            path = home / lesson / f"{lesson}.ipynb"
            nbformat.write(
                answer(student, lesson, nbformat.read(str(path), as_version=4), sources[lesson], markers), str(path)
            )
            student_exchange("submit", course.course_id, exchange, home, lesson, student)
    done = nbgrader(
        root,
        *[["collect", lesson] for lesson in LESSONS],
        *[[step, lesson] for lesson in LESSONS for step in ("autograde", "generate_feedback")],
        ["export"],
        env=env,
    )
    for lesson, student in PAIRS:
        submitted[lesson, student] = root / "submitted" / student / lesson / f"{lesson}.ipynb"
        assert submitted[lesson, student].exists(), (lesson, student)
    logs = {out.args[2]: out.stderr for out in done if out.args[1] == "autograde"}
    return {
        "root": root,
        "course": course,
        "env": env,
        "submitted": submitted,
        "trusted": trusted_scores(submitted, course, SEED, zygote),
        "gradebook": read_gradebook(root, course.course_id, PAIRS),
        "autograde_logs": logs,
        "markers": sorted(p.name for p in markers.iterdir()),
    }


def feedback_page(run, lesson: str, student: str) -> str:
    return (run["root"] / "feedback" / student / lesson / f"{lesson}.html").read_text()


@pytest.mark.slow
def test_release_hides_solutions_and_hidden_tests(course_run):
    from attnlab.student_build import find_leaks

    root = course_run["root"]
    released = [p for d in ("release", "exchange", "home") for p in (root / d).rglob("*") if p.is_file()]
    assert len([p for p in released if p.suffix == ".ipynb"]) >= 2 * len(LESSONS) + 2 * len(PAIRS)
    hidden_lines = [ln for ln in HIDDEN_REGION.splitlines() if ln.strip()]
    assert (
        find_leaks(
            [p for p in released if "inbound" not in p.parts and "home" not in p.parts], extra_markers=hidden_lines
        )
        == []
    )
    # What students hold before they write anything: no solution either.
    fetched = [root / "home" / "correct" / lesson / f"{lesson}.ipynb" for lesson in LESSONS]
    assert all(HIDDEN not in (root / "release" / lesson / f"{lesson}.ipynb").read_text() for lesson in LESSONS)
    assert all(
        "raise NotImplementedError" in (root / "release" / lesson / f"{lesson}.ipynb").read_text() for lesson in LESSONS
    )
    assert fetched[0].exists()


@pytest.mark.slow
def test_the_leak_scan_finds_a_solution_left_in_a_release(course_run, tmp_path):
    from attnlab.student_build import find_leaks

    source = course_run["root"] / "source" / "lesson1_qk_scores" / "lesson1_qk_scores.ipynb"
    assert find_leaks([source], extra_markers=[HIDDEN]), "the scan must see the solution in the source notebook"


@pytest.mark.slow
@pytest.mark.parametrize("lesson, student", PAIRS)
def test_gradebook_holds_the_trusted_scores(course_run, lesson, student):
    stored = course_run["gradebook"][lesson, student]
    assert set(stored) == set(LESSONS[lesson]), stored
    for task_id in LESSONS[lesson]:
        auto_score, max_score, needs_manual = stored[task_id]
        trusted = course_run["trusted"][lesson, student][task_id]
        assert max_score == course_run["course"].task(task_id).points == trusted["max_score"]
        assert auto_score == trusted["score"], (student, task_id, auto_score, trusted["status"], trusted["feedback"])
        assert needs_manual is False


@pytest.mark.slow
@pytest.mark.parametrize("student", ["correct", "exiter", "looper", "tamperer"])
def test_right_work_gets_full_marks_whatever_else_the_notebook_does(course_run, student):
    for lesson in SUBMITS[student]:
        for task_id in LESSONS[lesson]:
            score, max_score, _ = course_run["gradebook"][lesson, student][task_id]
            assert score == max_score, (student, lesson, task_id, course_run["trusted"][lesson, student][task_id])


@pytest.mark.slow
def test_the_typical_mistakes_get_partial_credit_and_their_names(course_run):
    gb, trusted = course_run["gradebook"], course_run["trusted"]
    assert 0 < gb["lesson1_qk_scores", "noscale"]["qk_scores"][0] < 15
    assert "missing_scale" in trusted["lesson1_qk_scores", "noscale"]["qk_scores"]["diagnoses"]
    assert 0 < gb["lesson2_softmax", "notemp"]["softmax_with_temperature"][0] < 20
    assert "temperature_ignored" in trusted["lesson2_softmax", "notemp"]["softmax_with_temperature"]["diagnoses"]


@pytest.mark.slow
def test_a_slip_no_rule_was_written_for_is_named_in_the_feedback(course_run):
    """The describer's words reach the student through nbgrader, as they do through check() and attnlab grade."""
    trusted = course_run["trusted"]["lesson5_order_and_memory", "halves"]["positional_encoding"]
    assert trusted["diagnoses"][0] == "index_map"
    score = course_run["gradebook"]["lesson5_order_and_memory", "halves"]["positional_encoding"][0]
    assert 0 <= score < 10 and score == trusted["score"]
    page = html.unescape(feedback_page(course_run, "lesson5_order_and_memory", "halves"))
    assert "the expected order interleaves them, so that columns 2i and 2i + 1 sit side by side" in page


@pytest.mark.slow
def test_the_in_kernel_cheats_gain_nothing(course_run):
    gb = course_run["gradebook"]
    assert gb["lesson1_qk_scores", "cheater"]["qk_scores"][0] == gb["lesson1_qk_scores", "noscale"]["qk_scores"][0] < 15


@pytest.mark.slow
def test_graded_cells_hold_feedback_and_the_score_only(course_run):
    root = course_run["root"]
    for (lesson, student), trusted in course_run["trusted"].items():
        nb = nbformat.read(str(root / "autograded" / student / lesson / f"{lesson}.ipynb"), as_version=4)
        seen = set()
        for cell in nb.cells:
            task_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if task_id not in LESSONS[lesson]:
                continue
            seen.add(task_id)
            kinds = [o.output_type for o in cell.outputs]
            task = trusted[task_id]
            # the words, the picture of the mistake where points were lost and there is one, then the score
            assert kinds in (["display_data", "execute_result"], ["display_data"] * 2 + ["execute_result"]), kinds
            assert set(cell.outputs[0].data) == {"text/plain"}, (student, task_id)
            if len(kinds) == 3:
                assert set(cell.outputs[1].data) == {"image/png", "text/plain"} and task["score"] < task["max_score"]
            assert float(cell.outputs[-1].data["text/plain"]) == task["score"]
        assert seen == set(LESSONS[lesson]), (lesson, student)


@pytest.mark.slow
def test_a_deleted_grade_cell_is_put_back_and_said_so(course_run):
    root = course_run["root"]
    assert "qk_scores" not in [
        c.metadata.get("nbgrader", {}).get("grade_id")
        for c in nbformat.read(str(course_run["submitted"]["lesson1_qk_scores", "tamperer"]), as_version=4).cells
    ]
    page = feedback_page(course_run, "lesson1_qk_scores", "tamperer")
    assert "was missing from the submission" in page and "added back" in page
    # An edited grade cell is restored from the gradebook: the trusted grade stands, not the printed 20.
    nb = nbformat.read(
        str(root / "autograded" / "tamperer" / "lesson3_masking" / "lesson3_masking.ipynb"), as_version=4
    )
    assert "print(20.0)" not in nb.cells[index_of(nb, "attention")].source


@pytest.mark.slow
def test_feedback_shows_the_trusted_feedback_pictures_and_no_hidden_test(course_run):
    root = course_run["root"]
    autograded = (root / "autograded" / "correct" / "lesson1_qk_scores" / "lesson1_qk_scores.ipynb").read_text()
    assert HIDDEN in autograded  # autograde restored the hidden tests, so hiding them in feedback matters
    for (lesson, student), trusted in course_run["trusted"].items():
        page = feedback_page(course_run, lesson, student)
        assert HIDDEN not in page and "BEGIN HIDDEN TESTS" not in page, (lesson, student)
        for task_id, task in trusted.items():
            text = FEEDBACK.format(
                task=task_id,
                score=task["score"],
                max_score=task["max_score"],
                status=task["status"],
                feedback=task["feedback"],
            )
            assert text in html.unescape(page), (lesson, student, task_id)  # as text: every character shown
    # A lost point comes with its picture, embedded in the page; full marks need none.
    picture = r'<img [^>]*alt="[a-z_]+: ' + re.escape(PICTURE_ALT) + '"'
    embedded = 'src="data:image/png;base64,'
    for lesson, student, count in [("lesson1_qk_scores", "noscale", 1), ("lesson2_softmax", "notemp", 1)]:
        pictures = re.findall(picture + r"[^>]*>", feedback_page(course_run, lesson, student))
        assert len(pictures) == count and all(embedded in p for p in pictures), (lesson, student, pictures)
    assert PICTURE_ALT not in feedback_page(course_run, "lesson1_qk_scores", "correct")


@pytest.mark.slow
def test_export_has_every_students_total(course_run):
    with open(course_run["root"] / "grades.csv", newline="") as f:
        rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(f)}
    assert set(rows) == {(lesson, s) for lesson in LESSONS for s in STUDENTS}
    for (lesson, student), row in rows.items():
        if (lesson, student) not in PAIRS:  # not submitted: nbgrader's zero
            assert float(row["score"]) == 0.0
            continue
        trusted = course_run["trusted"][lesson, student]
        assert float(row["score"]) == pytest.approx(sum(t["score"] for t in trusted.values()), abs=1e-9)
        assert float(row["max_score"]) == sum(t["max_score"] for t in trusted.values())


@pytest.mark.slow
def test_no_student_code_ran_outside_the_sandbox(course_run):
    # run_kernel "auto" with only course tasks: no kernel; the grader's sandbox hides the course folder.
    assert course_run["markers"] == []


@pytest.fixture(scope="module")
def kernel_run(course_run, tmp_path_factory):
    """Lesson 1 autograded again in a copy of the course, with the student's kernel run as plain nbgrader does."""
    root = tmp_path_factory.mktemp("kernel") / "course"
    shutil.copytree(course_run["root"], root)
    config = root / "nbgrader_config.py"
    # Each kernel is stopped as soon as its notebook has run, rather than given seconds to exit by itself.
    config.write_text(
        config.read_text().replace(str(course_run["root"]), str(root))
        + '\nc.TrustedGrades.run_kernel = "always"\nc.TrustedGrades.shutdown_kernel = "immediate"\n'
    )
    markers = course_run["root"] / "ran"  # where the notebooks' marker cells write
    for stale in markers.iterdir():  # course_run has already read what its own autograde left
        stale.unlink()
    nbgrader(root, ["autograde", "lesson1_qk_scores", "--force"], env=course_run["env"])
    ran = sorted(os.listdir(markers))
    for name in ran:
        (markers / name).unlink()
    return {
        "gradebook": read_gradebook(root, course_run["course"].course_id, [("lesson1_qk_scores", s) for s in LESSON1]),
        "ran": ran,
    }


@pytest.mark.slow
def test_with_the_kernel_run_the_cheats_and_warnings_still_gain_nothing(course_run, kernel_run):
    assert kernel_run["ran"] == sorted(f"lesson1_qk_scores-{s}" for s in LESSON1)  # the kernel did run them
    for student in LESSON1:
        assert (
            kernel_run["gradebook"]["lesson1_qk_scores", student]
            == course_run["gradebook"]["lesson1_qk_scores", student]
        ), student


def test_a_grade_cell_that_is_not_a_task_scores_zero_when_no_kernel_may_run():
    # An instructor's own test cell: only a kernel could score it. With run_kernel "never" nothing runs
    # it, and it must not get plain nbgrader's full credit for an empty output.
    from attnlab.nbgrader import TrustedGrades
    from nbformat.v4 import new_notebook
    from nbgrader.utils import determine_grade

    cell = new_code_cell(
        "assert extra_check()",
        metadata={
            "nbgrader": {
                "grade": True,
                "solution": False,
                "locked": True,
                "grade_id": "extra",
                "points": 5,
                "schema_version": 3,
            }
        },
    )
    assert determine_grade(cell) == (5, 5)  # plain nbgrader: full marks for a cell that never ran
    nb, _ = TrustedGrades(run_kernel="never").preprocess(new_notebook(cells=[cell]), {})
    assert determine_grade(nb.cells[0]) == (0, 5)
    assert nb.cells[0].outputs[0].ename == "NotGraded"
