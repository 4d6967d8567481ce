"""`check(fn)` in the student's own process: instant pass/fail and a hint, never a grade."""

from __future__ import annotations

import contextlib
import html
import math
import re
import sys
import time
import types

import pytest
import torch
from attnlab import check
from attnlab.course import load_course
from attnlab.notebook_check import CheckResult


def forgot_sqrt_d(q, k):
    return q @ k.transpose(-2, -1)


forgot_sqrt_d.__name__ = "qk_scores"


def test_check_passes_the_reference(capsys):
    from attnlab import reference

    assert check(reference.qk_scores)
    assert check(reference.MultiHeadAttention)
    assert "PASS qk_scores" in capsys.readouterr().out


def test_check_names_the_mistake(capsys):
    assert not check(forgot_sqrt_d)
    out = capsys.readouterr().out
    assert "FAIL qk_scores" in out and "divide by sqrt(d)" in out


def test_check_prints_the_score_rounded_to_two_decimals(capsys):
    result = check(forgot_sqrt_d)
    line = capsys.readouterr().out.splitlines()[0]
    assert re.fullmatch(r"FAIL qk_scores: \d+(\.\d{1,2})?/\d+ partial", line), line
    assert 0 < result.score < result.max_score and line == repr(result)


def test_check_result_is_true_when_the_task_passed_and_reads_as_the_printed_line():
    partial = CheckResult(task="qk_scores", score=10 / 3, max_score=15, status="partial")
    passed = CheckResult(task="qk_scores", score=15.0, max_score=15, status="passed")
    assert not partial and passed
    assert repr(partial) == "FAIL qk_scores: 3.33/15 partial"
    assert repr(passed) == "PASS qk_scores: 15/15 passed"
    assert (partial.task, partial.score, partial.max_score, partial.status) == ("qk_scores", 10 / 3, 15, "partial")
    assert partial._ipython_display_() is None  # IPython then shows no Out[...] for a cell ending in check(...)


@contextlib.contextmanager
def in_a_notebook():
    """check() as in a notebook: IPython says there is a shell, and what check() displays is kept in a list."""
    import IPython
    import IPython.display

    def ignore(*args, **kwargs):
        return None

    # What pyplot asks of a shell when its backend is switched, as the old `matplotlib.use("Agg")` did.
    shell = types.SimpleNamespace(events=types.SimpleNamespace(register=ignore, unregister=ignore), enable_gui=ignore)
    shown = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(IPython, "get_ipython", lambda: shell)
        mp.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
        yield shown


def test_check_shows_the_mistake_as_a_png_and_leaves_matplotlib_alone(capsys):
    import matplotlib
    import matplotlib.pyplot as plt
    from IPython.display import Image

    was = matplotlib.get_backend()
    plt.switch_backend("svg")  # any backend but Agg, so that a switch to Agg would show
    try:
        rc = dict(matplotlib.rcParams)
        with in_a_notebook() as shown:
            assert not check(forgot_sqrt_d)
        assert matplotlib.get_backend() == "svg" and matplotlib.rcParams["backend"] == "svg"
        assert dict(matplotlib.rcParams) == rc
    finally:
        plt.switch_backend(was)
    hint, picture = shown  # the hint's words, then the picture under them
    assert set(hint) == {"text/html", "text/plain"}
    assert isinstance(picture, Image) and picture.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert "FAIL qk_scores" in capsys.readouterr().out


def test_check_rejects_an_unknown_function():
    def my_helper(x):
        return x

    with pytest.raises(ValueError, match="check\\(\\) needs one of the course's functions"):
        check(my_helper)


def test_check_sees_a_forbidden_call(capsys):
    def softmax_with_temperature(scores, temperature=1.0, dim=-1):
        if not (0 < temperature < math.inf):
            raise ValueError("temperature")
        return torch.softmax(scores / temperature, dim=dim).nan_to_num(0.0)

    assert not check(softmax_with_temperature)
    assert "forbid" in capsys.readouterr().out


def test_check_stops_an_endless_loop_at_the_time_limit(capsys):
    def qk_scores(q, k):
        while True:
            pass

    course = load_course()
    short = course.model_copy(update={"limits": course.limits.model_copy(update={"task_seconds": 0.5})})
    t0 = time.perf_counter()
    assert not check(qk_scores, course=short)
    assert time.perf_counter() - t0 < 5, "check() must stop at the first case that runs out of time"
    out = capsys.readouterr().out
    assert "FAIL qk_scores" in out and "did not finish" in out and "TimeUp" not in out


@pytest.mark.parametrize("hidden", [False, True], ids=["named", "control_hidden_from_the_source"])
def test_check_imports_what_the_function_imports_before_it_times_it(capsys, tmp_path, monkeypatch, hidden):
    """A first import that takes longer than the task's limit is done before the cases: the control hides the
    module's name from the source, so the case imports it itself and runs out of time."""
    import importlib

    from attnlab import reference

    (tmp_path / "attnlab_check_slow.py").write_text("import time\ntime.sleep(1.0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    if hidden:

        def qk_scores(q, k):
            importlib.import_module("attnlab_check_" + "slow")
            return reference.qk_scores(q, k)
    else:

        def qk_scores(q, k):
            import attnlab_check_slow  # noqa: F401

            return reference.qk_scores(q, k)

    course = load_course()
    short = course.model_copy(update={"limits": course.limits.model_copy(update={"task_seconds": 0.5})})
    try:
        assert bool(check(qk_scores, course=short)) is not hidden, capsys.readouterr().out
    finally:
        sys.modules.pop("attnlab_check_slow", None)


def test_check_runs_on_any_seed_in_the_full_install(capsys):
    from attnlab import reference

    assert check(reference.softmax_with_temperature, seed=7)


def test_check_of_a_plot_leaves_the_students_own_figures_open(capsys):
    import matplotlib.pyplot as plt
    from attnlab import reference

    mine = plt.figure()
    try:
        assert check(reference.plot_attention)
        assert plt.fignum_exists(mine.number)
        assert plt.get_fignums() == [mine.number]  # and the figures check() drew are gone
    finally:
        plt.close(mine)


def test_check_in_a_notebook_prints_the_verdict_and_shows_the_hint_as_html_with_a_plain_text_twin(capsys):
    from attnlab.notebook_check import run_in_process

    course = load_course()
    feedback = run_in_process(forgot_sqrt_d, course.task("qk_scores"), course, course.public_seed).feedback
    with in_a_notebook() as shown:
        result = check(forgot_sqrt_d)
    out = capsys.readouterr().out
    assert out == repr(result) + "\n"  # the verdict printed as before; the hint is not printed a second time
    hint = shown[0]
    assert hint["text/html"].startswith("<p") and hint["text/html"].endswith("</p>")
    assert html.escape(feedback) in hint["text/html"] and "divide by sqrt(d)" in hint["text/html"]
    assert hint["text/plain"].replace("\n", " ") == feedback  # the same words, lines broken only between them


def test_the_hints_plain_text_breaks_lines_between_words_never_inside_one():
    from attnlab.notebook_check import HINT_WIDTH, hint_bundle

    feedback = (
        "with temperature 0.7 your weights equal the T = 1 weights: divide the scores by the temperature before the "
        "softmax. A row that is entirely -inf gave NaN: softmax_with_temperature_of_a_very_long_made_up_name_that_"
        "does_not_fit_on_one_line_of_the_hint_at_all must give zeros there (-inf - -inf is NaN)."
    )
    plain = hint_bundle(feedback)["text/plain"]
    lines = plain.split("\n")
    assert len(lines) > 2
    assert plain.replace("\n", " ") == feedback  # every break replaced a space: no word cut ("temper / ature")
    assert all(len(line) <= HINT_WIDTH for line in lines if " " in line)  # only a single word may be longer


def hint_for_raising(message: str) -> dict:
    """The hint bundle check() shows in a notebook for a qk_scores that raises `message`."""

    def qk_scores(q, k):
        raise RuntimeError(message)

    with in_a_notebook() as shown:
        assert not check(qk_scores)
    return shown[0]


def test_the_hints_html_escapes_what_the_students_code_said(capsys):
    hint = hint_for_raising("<img src=x onerror=alert(1)> & <script>alert('q')</script>")
    assert "<img" not in hint["text/html"] and "<script" not in hint["text/html"]
    assert html.escape("<img src=x onerror=alert(1)>") in hint["text/html"]
    assert "&lt;script&gt;alert(&#x27;q&#x27;)&lt;/script&gt;" in hint["text/html"]


def test_control_the_students_words_reach_the_hint_unescaped_in_its_plain_text(capsys):
    """The control twin of the escape: the attack's text does reach the hint, so the escape is what stops it."""
    attack = "<img src=x onerror=alert(1)>"
    assert attack in " ".join(hint_for_raising(attack)["text/plain"].split())


def test_check_outside_a_notebook_prints_the_hint_under_the_verdict(capsys):
    from attnlab.notebook_check import run_in_process

    course = load_course()
    feedback = run_in_process(forgot_sqrt_d, course.task("qk_scores"), course, course.public_seed).feedback
    result = check(forgot_sqrt_d)
    assert capsys.readouterr().out == f"{result!r}\n{feedback}\n"
