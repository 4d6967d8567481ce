"""attnlab.earlier_lessons: a later lesson reads a function of an earlier one from the student's own notebook of it,
and where that is missing or not done, goes on with a stand-in that says what to finish.

Notebooks are made up in the test's folder, side by side as nbgrader's Fetch puts them; check() judges in this
process (as in a student's kernel), with no child process.
"""

from __future__ import annotations

import nbformat
import pytest
from attnlab.earlier_lessons import EarlierLessonMissing, earlier, student_code
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

RIGHT_QK = "def qk_scores(q, k):\n    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])\n"
NOSCALE_QK = "def qk_scores(q, k):\n    return q @ k.transpose(-2, -1)\n"
SOFTMAX = """\
def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    t = float(temperature)
    if not math.isfinite(t) or t <= 0:
        raise ValueError("temperature")
    top = scores.amax(dim=dim, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    e = torch.exp((scores - top) / t)
    total = e.sum(dim=dim, keepdim=True)
    return e / torch.where(total > 0, total, torch.ones_like(total))
"""
ATTENTION = """\
def attention(q, k, v, mask=None, temperature=1.0):
    scores = qk_scores(q, k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = softmax_with_temperature(scores, temperature, dim=-1)
    return weights @ v, weights
"""


def lesson(folder, name: str, *cells) -> None:
    """A lesson's notebook where Fetch puts it: folder/name/name.ipynb."""
    (folder / name).mkdir(exist_ok=True)
    nb = new_notebook(cells=[new_markdown_cell(f"# {name}"), *cells])
    nbformat.write(nb, str(folder / name / f"{name}.ipynb"))


def solution(code: str, grade_id: str):
    return new_code_cell(code, metadata={"nbgrader": {"solution": True, "grade_id": grade_id, "grade": False}})


def test_a_function_that_passes_its_check_comes_back_with_one_line(tmp_path, capsys):
    lesson(tmp_path, "lesson1_qk_scores", new_code_cell("import math"), solution(RIGHT_QK, "qk_scores_solution"))
    got = earlier("qk_scores", here=tmp_path / "lesson2_softmax")
    assert got.__name__ == "qk_scores" and got.__code__.co_filename.endswith("lesson1_qk_scores.ipynb")
    assert capsys.readouterr().out == (
        "qk_scores: yours, from ../lesson1_qk_scores/lesson1_qk_scores.ipynb, which passes its check.\n"
    )


@pytest.mark.parametrize(
    "cells, says",
    [
        (None, "its notebook is not in ../lesson1_qk_scores/lesson1_qk_scores.ipynb, where Fetch puts it"),
        ([new_code_cell("x = 1")], "../lesson1_qk_scores/lesson1_qk_scores.ipynb does not define it"),
        ([new_code_cell("import math"), solution(NOSCALE_QK, "qk_scores_solution")], "does not pass its check yet"),
        (
            [solution("def qk_scores(q, k):\n    raise NotImplementedError()", "x")],
            "does not pass its check yet (0/15)",
        ),
        ([new_code_cell("import no_such_module")], "stops with ModuleNotFoundError"),
    ],
    ids=["no notebook", "not defined", "a mistake", "the stub", "its code stops"],
)
def test_where_it_is_not_done_a_stand_in_says_what_to_finish_where_it_is_called(tmp_path, capsys, cells, says):
    if cells is not None:
        lesson(tmp_path, "lesson1_qk_scores", *cells)
    stand_in = earlier("qk_scores", here=tmp_path / "lesson2_softmax")
    line = capsys.readouterr().out
    assert line.startswith("qk_scores: ") and says in line and line.count("\n") == 1
    assert "This lesson goes on; a cell that calls qk_scores will say so." in line
    with pytest.raises(EarlierLessonMissing, match="finish lesson 1's qk_scores first") as raised:
        stand_in(1, 2)
    assert says in str(raised.value) and "lesson1_qk_scores/lesson1_qk_scores.ipynb" in str(raised.value)


def test_a_class_stand_in_raises_when_it_is_made(tmp_path, capsys):
    stand_in = earlier("MultiHeadAttention", here=tmp_path / "lesson5_order_and_memory")
    with pytest.raises(EarlierLessonMissing, match="finish lesson 4's MultiHeadAttention first"):
        stand_in(8, 2)


def test_a_function_of_lesson_3_brings_the_earlier_ones_it_needs_and_only_the_outer_line_is_printed(tmp_path, capsys):
    lesson(tmp_path, "lesson1_qk_scores", new_code_cell("import math"), solution(RIGHT_QK, "qk_scores_solution"))
    lesson(tmp_path, "lesson2_softmax", new_code_cell("import math\nimport torch"), solution(SOFTMAX, "x_solution"))
    reads = (
        'from attnlab import earlier\nqk_scores = earlier("qk_scores")\n'
        'softmax_with_temperature = earlier("softmax_with_temperature")'
    )
    lesson(tmp_path, "lesson3_masking", new_code_cell(reads), solution(ATTENTION, "attention_solution"))
    got = earlier("attention", here=tmp_path / "lesson4_multi_head")
    assert capsys.readouterr().out == (
        "attention: yours, from ../lesson3_masking/lesson3_masking.ipynb, which passes its check.\n"
    )
    assert got.__globals__["qk_scores"].__code__.co_filename.endswith("lesson1_qk_scores.ipynb")


def test_finishing_an_earlier_lesson_is_seen_at_the_next_read(tmp_path, capsys):
    lesson(tmp_path, "lesson1_qk_scores", new_code_cell("import math"), solution(NOSCALE_QK, "qk_scores_solution"))
    here = tmp_path / "lesson2_softmax"
    assert "does not pass" in (earlier("qk_scores", here=here), capsys.readouterr().out)[1]
    lesson(tmp_path, "lesson1_qk_scores", new_code_cell("import math"), solution(RIGHT_QK, "qk_scores_solution"))
    earlier("qk_scores", here=here)
    assert "which passes its check" in capsys.readouterr().out


def test_only_definitions_and_earlier_lines_are_read_never_a_demonstration():
    nb = new_notebook(
        cells=[
            new_code_cell("import torch\nfrom math import sqrt\nprint('a demo')\nmodel = train(epochs=100)"),
            new_markdown_cell("def not_code(): pass"),
            new_code_cell('qk_scores = earlier("qk_scores")\nfor i in range(10**9):\n    pass'),
            solution("def attention(q, k, v):\n    return q\nattention(1, 2, 3)\nplt.show()", "attention_solution"),
            new_code_cell("class Helper:\n    pass\n)  # a cell that does not parse"),
        ]
    )
    code = student_code(nb)
    assert [line for line in code.splitlines() if line] == [
        "import torch",
        "from math import sqrt",
        "qk_scores = earlier('qk_scores')",
        "def attention(q, k, v):",
        "    return q",
    ]  # and the cell that is not Python defines nothing


def test_a_name_that_is_no_task_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="earlier\\(\\) takes one of qk_scores, softmax_with_temperature"):
        earlier("sorted")


def test_the_self_learners_doors_inline_the_students_own_earlier_lessons_once_each(tmp_path):
    """with_earlier_lessons (attnlab check, the pytest plugin): each earlier() line becomes the student's code from
    the notebook beside it, recursively, each notebook once; a missing notebook leaves the line (the stand-in)."""
    from attnlab.earlier_lessons import with_earlier_lessons

    lesson(tmp_path, "lesson1_qk_scores", new_code_cell("import math"), solution(NOSCALE_QK, "qk_scores_solution"))
    lesson(
        tmp_path,
        "lesson2_softmax",
        new_code_cell('qk_scores = earlier("qk_scores")'),
        solution(SOFTMAX, "softmax_solution"),
    )
    cells = [
        'qk_scores = earlier("qk_scores")\nsoftmax_with_temperature = earlier("softmax_with_temperature")\nx = 1\n',
        'mha = earlier("multi_head_attention")\n',
        ATTENTION,
    ]
    out = with_earlier_lessons(cells, tmp_path / "lesson3_masking")
    first = out[0]
    assert "earlier(" not in first and first.rstrip().endswith("x = 1")
    assert first.count("def qk_scores") == 1 and "q @ k.transpose(-2, -1)\n" in first  # the student's own slip
    assert first.count("def softmax_with_temperature") == 1
    assert out[1] == cells[1]  # no lesson 5 notebook beside: the line stays, the grader's stand-in answers
    assert out[2] == ATTENTION
    namespace: dict = {}
    exec(first, namespace)  # what it makes runs: the functions are defined, in order
    assert callable(namespace["qk_scores"]) and callable(namespace["softmax_with_temperature"])


def test_a_notebook_that_reads_itself_is_not_inlined_forever(tmp_path):
    from attnlab.earlier_lessons import with_earlier_lessons

    lesson(tmp_path, "lesson1_qk_scores", new_code_cell('qk_scores = earlier("qk_scores")'))
    out = with_earlier_lessons(['qk_scores = earlier("qk_scores")\n'], tmp_path / "lesson2_softmax")
    assert out[0].count("earlier(") == 1  # inlined once; its own line stays as it is
