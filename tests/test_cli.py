"""The `attnlab` command's contract: exit codes, one JSON line per submission, readable errors."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

import pytest
from conftest import REPO, SUBMISSIONS

EXAMPLES = REPO / "assignments" / "examples"


# Each run is a process of its own that imports torch (and most start a grader): the tests that run one are slow.
def attnlab(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "attnlab.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_json_is_one_line_per_submission_in_input_order():
    paths = [EXAMPLES / "forgot_sqrt_d.py", EXAMPLES / "correct.py"]
    out = attnlab("grade", *paths, "--json", "--seed", "3", "--tasks", "qk_scores,attention")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2
    results = [json.loads(line) for line in lines]
    assert [r["submission"] for r in results] == [str(p) for p in paths]
    for r in results:
        assert r["schema"] == "attnlab.grade/1" and r["status"] == "graded"
        assert [t["id"] for t in r["tasks"]] == ["qk_scores", "attention"]
        for t in r["tasks"]:
            assert set(t) >= {"id", "score", "max_score", "status", "diagnoses", "feedback", "cases"}
            assert t["status"] in {"passed", "partial", "failed", "error", "timeout", "missing", "forbidden"}
    assert results[0]["tasks"][0]["diagnoses"] == ["missing_scale"]
    assert results[1]["total"] == results[1]["max_total"] == 35.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, words",
    [
        (["grade", "nowhere.py"], "no such file"),
        (["grade", "{bad_nb}"], "not valid notebook JSON"),
        (["grade", "{good}", "--tasks", "qk_scores,flash"], "unknown task id 'flash'"),
        (["grade", "{txt}"], "expected a .py module or a .ipynb notebook"),
    ],
)
def test_unusable_input_exits_2_with_one_line(tmp_path, args, words):
    bad_nb = tmp_path / "broken.ipynb"
    bad_nb.write_text("{ not json")
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    args = [a.format(bad_nb=bad_nb, good=SUBMISSIONS / "base.py", txt=txt) for a in args]
    out = attnlab(*args)
    assert out.returncode == 2
    assert out.stdout == ""
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and words in err[0], out.stderr


def _unreadable(tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not json")
    return [broken, tmp_path / "nowhere.py"]


@pytest.mark.slow
def test_an_unreadable_path_among_many_gets_its_own_line_and_the_others_are_graded(tmp_path):
    broken, nowhere = _unreadable(tmp_path)
    paths = [broken, EXAMPLES / "correct.py", nowhere]
    out = attnlab("grade", *paths, "--json", "--seed", "3", "--tasks", "causal_mask")
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["submission"] for r in results] == [str(p) for p in paths]
    assert [r["status"] for r in results] == ["unreadable", "graded", "unreadable"]
    assert results[1]["total"] == results[1]["max_total"]
    for r in (results[0], results[2]):
        assert set(r) == {"schema", "submission", "status", "reason", "student", "assignment"}
        assert r["schema"] == "attnlab.grade/1" and r["assignment"] is None
        assert r["reason"] and "\n" not in r["reason"]
    assert "not valid notebook JSON" in results[0]["reason"] and results[2]["reason"] == "no such file"
    # The tables say it too: a line for the file, and a row in the summary.
    out = attnlab("grade", *paths, "--seed", "3", "--tasks", "causal_mask")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("unreadable:") == 4 and "no such file" in out.stdout, out.stdout


def test_the_python_api_keeps_going_as_the_command_does(tmp_path, course, zygote):
    from attnlab.running.grade import grade_paths
    from attnlab.running.submission import InputError

    broken, nowhere = _unreadable(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        grade_paths([SUBMISSIONS / "base.py", nowhere], course=course, seed=3, zygote=zygote)
    results = grade_paths(
        [broken, SUBMISSIONS / "base.py"],
        keep_going=True,
        course=course,
        seed=3,
        task_ids=["causal_mask"],
        zygote=zygote,
    )
    assert [r["status"] for r in results] == ["unreadable", "graded"]
    assert results[1]["total"] == results[1]["max_total"]


@pytest.mark.slow
def test_nothing_readable_exits_2_with_one_line_per_path(tmp_path):
    out = attnlab("grade", *_unreadable(tmp_path), "--json")
    assert out.returncode == 2 and out.stdout == ""
    err = out.stderr.strip().splitlines()
    assert len(err) == 2 and "not valid notebook JSON" in err[0] and "no such file" in err[1], out.stderr


@pytest.mark.slow
def test_graded_is_exit_0_whatever_the_score(tmp_path):
    empty = tmp_path / "empty.py"
    empty.write_text("# nothing yet\n")
    out = attnlab("grade", empty, "--json", "--tasks", "qk_scores")
    assert out.returncode == 0
    assert json.loads(out.stdout)["total"] == 0.0


@pytest.mark.slow
def test_table_output_names_the_mistake():
    out = attnlab("check", EXAMPLES / "forgot_sqrt_d.py", "--tasks", "qk_scores")
    assert out.returncode == 0, out.stderr
    assert "missing_scale" in out.stdout and "sqrt" in out.stdout


@pytest.mark.slow
def test_notebook_cells_run_in_order_skipping_magics_and_failing_scratch(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    base = (SUBMISSIONS / "base.py").read_text()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# My work"),
        nbformat.v4.new_code_cell("%matplotlib inline\n!pip install nothing\nimport torch"),
        nbformat.v4.new_code_cell("1 / 0  # a scratch cell that raises"),
        nbformat.v4.new_code_cell("%%time\nraise SystemExit"),
        nbformat.v4.new_code_cell(base),
        nbformat.v4.new_code_cell("files = !ls\nqk_scores(torch.ones(1, 2), torch.ones(1, 2))"),
    ]
    path = tmp_path / "work.ipynb"
    nbformat.write(nb, path)
    out = attnlab("grade", path, "--json", "--tasks", "qk_scores,causal_mask")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["total"] == result["max_total"]
    assert [e["type"] for e in result["load_errors"]] == ["ZeroDivisionError"]


@pytest.mark.slow
def test_course_errors_name_the_field(tmp_path):
    bad = tmp_path / "course.yml"
    bad.write_text((REPO / "course.yml").read_text().replace("points: 15", "points: -1"))
    out = attnlab("grade", SUBMISSIONS / "base.py", "--course", bad)
    assert out.returncode == 2
    assert "tasks.0.points" in out.stderr
    out = attnlab("nbgrader-config", "--course", bad)
    assert out.returncode == 2 and out.stdout == ""
    assert "tasks.0.points" in out.stderr and len(out.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_check_cells_do_nothing_in_the_grader_and_reference_is_not_importable(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell((SUBMISSIONS / "base.py").read_text()),
        nbformat.v4.new_code_cell("from attnlab import check\ncheck(qk_scores)"),
        nbformat.v4.new_code_cell("import attnlab.reference as answers\nqk_scores = answers.qk_scores"),
    ]
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nb, path)
    out = attnlab("grade", path, "--json", "--tasks", "qk_scores")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["total"] == result["max_total"]
    assert [e["type"] for e in result["load_errors"]] == ["ModuleNotFoundError"]


@pytest.mark.slow
def test_a_notebook_cell_that_exits_or_hangs_is_left_out_and_the_rest_graded(tmp_path):
    import nbformat

    base = (SUBMISSIONS / "base.py").read_text()
    for name, bad in [("exits", "import os\nos._exit(1)"), ("hangs", "while True:\n    pass")]:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(base), nbformat.v4.new_code_cell(bad), nbformat.v4.new_code_cell("x = 1")]
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(nb, path)
        out = attnlab("grade", path, "--json", "--tasks", "qk_scores,causal_mask", "--course", _short_course(tmp_path))
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        assert result["total"] == result["max_total"], (name, result["tasks"])
        assert [e["cell"] for e in result["load_errors"]] == [2], result["load_errors"]


def _short_course(tmp_path):
    course = tmp_path / "course.yml"
    course.write_text((REPO / "course.yml").read_text().replace("load_seconds: 20", "load_seconds: 4"))
    return course


@pytest.mark.slow
def test_tables_in_a_pipe_keep_file_names_whole_whatever_columns_says(tmp_path):
    folder = tmp_path / "submitted" / "alice_with_a_long_student_id" / "lesson1_qk_scores_and_more"
    folder.mkdir(parents=True)
    for name in ("correct.py", "forgot_sqrt_d.py"):
        folder.joinpath(name).write_text((EXAMPLES / name).read_text())
    out = subprocess.run(
        [sys.executable, "-m", "attnlab.cli", "check", str(folder), "--tasks", "qk_scores"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "60"},
    )
    assert out.returncode == 0, out.stderr
    for name in ("correct.py", "forgot_sqrt_d.py"):  # its table's title and its row of the summary
        shown = str(folder.relative_to(tmp_path) / name)  # 76 characters
        assert sum(shown in line for line in out.stdout.splitlines()) == 2, out.stdout
    assert "…" not in out.stdout


def _help_texts() -> dict[str, str]:
    """Each command's --help, as `attnlab COMMAND --help` prints it, its lines joined."""
    from attnlab.cli import _parser

    (commands,) = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return {name: " ".join(p.format_help().split()) for name, p in commands.choices.items()}


def test_no_help_text_or_docstring_counts_the_lessons_wrong():
    import attnlab.hub
    import attnlab.nbgrader.steps
    from attnlab.hub import course_root

    texts = [*_help_texts().values(), attnlab.hub.__doc__, attnlab.nbgrader.steps.__doc__, course_root.__doc__]
    numbers = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
    counts = [m.group(1).lower() for text in texts for m in re.finditer(r"\b(\w+) lessons\b", " ".join(text.split()))]
    counted = [int(c) if c.isdigit() else numbers[c] for c in counts if c.isdigit() or c in numbers]
    assert set(counted) <= {len(course_root.lessons())}, counts


def test_the_help_names_the_defaults_the_code_picks():
    from attnlab.nbgrader.autograde import RESULTS

    helps = _help_texts()
    for name in ("grade", "check", "doctor", "nbgrader-config", "hub"):  # load_course reads $ATTNLAB_COURSE
        assert "--course COURSE" in helps[name] and "$ATTNLAB_COURSE" in helps[name], name
    assert "$XDG_DATA_HOME/attnlab/hub" in helps["hub"] and "/srv/attnlab with --system-users" in helps["hub"]
    assert RESULTS in helps["autograde"]
