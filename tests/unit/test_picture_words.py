"""pictures: a mistake's picture in words a student understands, from made-up replies (no child process).

The title names the likely mistakes with ``diagnose.TITLES``, never with catalogue ids, and every catalogue
id has such words. A panel with nothing finite to draw (every value NaN or inf) says so in words and draws
no colour bar, whose range would be made up.
"""

from __future__ import annotations

import math

import pytest
import torch
from attnlab.judging.diagnose import CATALOGUE, TITLES, Diagnosis
from attnlab.judging.judge import TaskResult, TaskStatus
from attnlab.reporting.pictures import DIFFERENCE, nothing_finite, suptitle, task_figure

from .fakes import cases, checks_right, computed, f64, judge_run

LONGEST = 45  # characters: three of them side by side still fit a picture's title in two lines


def _student(task_id: str, fn):
    return judge_run(task_id, lambda c: checks_right(c, lambda c: computed(c, *fn(c))))


def _unscaled_scores(case):  # missing_scale: q @ k^T, not divided by sqrt(d)
    return (f64(case.tensors["q"]) @ f64(case.tensors["k"]).transpose(-2, -1),)


def _nan_weights(case):  # a softmax that gives NaN everywhere
    return (torch.full_like(f64(case.tensors["x"]), math.nan),)


def _panels(fig) -> dict:
    """The picture's panels by title (the first line of it), colour bars left out."""
    return {ax.get_title().split("\n")[0]: ax for ax in fig.axes if ax.get_label() != "<colorbar>"}


def _colour_bars(fig) -> int:
    return sum(ax.get_label() == "<colorbar>" for ax in fig.axes)


# ------------------------------------------------------------------------------------------------ words


def test_every_catalogue_id_has_words_and_every_words_entry_is_a_catalogue_id():
    missing = sorted(set(CATALOGUE) - set(TITLES))
    unknown = sorted(set(TITLES) - set(CATALOGUE))
    assert not missing, f"catalogue ids without words for a picture's title (diagnose.TITLES): {missing}"
    assert not unknown, f"diagnose.TITLES has words for ids the catalogue does not have: {unknown}"


@pytest.mark.parametrize("did", sorted(CATALOGUE))
def test_the_words_for_an_id_are_short_words_not_an_id(did):
    words = TITLES.get(did, "")
    assert words.strip() and "\n" not in words, did
    assert len(words) <= LONGEST, f"{did}: {words!r} is longer than {LONGEST} characters"
    ids_in_words = [other for other in CATALOGUE if "_" in other and other in words]
    assert words != did and not ids_in_words, f"{did}: {words!r} names catalogue ids, not the mistake"


def test_a_pictures_title_names_the_mistake_in_words_not_by_its_id():
    result = _student("qk_scores", _unscaled_scores)
    assert [d.id for d in result.diagnoses][0] == "missing_scale"
    title = task_figure(result)._suptitle.get_text()
    assert title.startswith("qk_scores: ")
    assert TITLES["missing_scale"] in title
    assert "missing_scale" not in title


def test_a_title_of_two_mistakes_says_both_in_words_and_wraps_between_words():
    task = TaskResult(
        id="softmax_with_temperature",
        score=5.0,
        max_score=15.0,
        status=TaskStatus.PARTIAL,
        diagnoses=[Diagnosis("fully_masked_row_nan", "a row ..."), Diagnosis("temperature_ignored", "with ...")],
        cases=[],
    )
    title = suptitle(task, "scores (4, 8) float32", width=30)
    first, *rest = title.split("\n")
    assert first == "softmax_with_temperature: scores (4, 8) float32"
    words = f"{TITLES['fully_masked_row_nan']}; {TITLES['temperature_ignored']}"
    assert len(rest) > 1 and all(len(line) <= 30 for line in rest)  # wrapped at 30 characters
    assert " ".join(rest) == words  # and only between words
    assert "fully_masked_row_nan" not in title and "temperature_ignored" not in title


# ------------------------------------------------------------------------------------- nothing finite


def test_a_panel_with_nothing_finite_says_so_and_draws_no_colour_bar():
    fig = task_figure(_student("softmax_with_temperature", _nan_weights))
    panels = _panels(fig)
    assert set(panels) == {"your weights", "expected weights", DIFFERENCE}
    yours, expected, difference = panels["your weights"], panels["expected weights"], panels[DIFFERENCE]
    assert not yours.images and [t.get_text() for t in yours.texts] == ["nothing finite to draw:\nevery value is NaN"]
    assert not difference.images
    assert [t.get_text() for t in difference.texts] == [
        "nothing finite to compare:\nin every cell, yours or the\nexpected value is NaN or inf"
    ]
    assert expected.images and not expected.texts
    assert _colour_bars(fig) == 1  # the expected weights' alone


def test_control_panels_with_finite_values_draw_images_and_colour_bars():
    fig = task_figure(_student("qk_scores", _unscaled_scores))
    panels = _panels(fig)
    assert all(ax.images and not ax.texts for ax in panels.values())
    assert _colour_bars(fig) == 3


def test_the_difference_panel_is_scaled_from_zero():
    fig = task_figure(_student("qk_scores", _unscaled_scores))
    low, high = _panels(fig)[DIFFERENCE].images[0].get_clim()
    assert low == 0.0 and high > 0.1


def test_a_difference_that_is_zero_wherever_it_is_finite_is_drawn_from_0_to_1_not_around_0():
    def expected_but_nan_in_the_first_cell(case):
        w = f64(case.expected[0]).clone()
        w.view(-1)[0] = math.nan
        return (w,)

    float64 = [c for c in cases("softmax_with_temperature") if c.dtype == "float64"]
    assert float64, "no float64 cases: the difference would not be exactly 0"
    result = judge_run(
        "softmax_with_temperature",
        lambda c: checks_right(c, lambda c: computed(c, *expected_but_nan_in_the_first_cell(c))),
        float64,
    )
    panel = _panels(task_figure(result))[DIFFERENCE]
    finite = torch.as_tensor(panel.images[0].get_array().filled(math.nan))
    assert float(finite[torch.isfinite(finite)].abs().max()) == 0.0
    assert panel.images[0].get_clim() == (0.0, 1.0)  # not -0.1 to 0.1 around a difference of 0


def test_nothing_finite_says_which_values_there_are():
    nan, inf = math.nan, math.inf
    assert nothing_finite(torch.tensor([[nan, nan]])) == "nothing finite to draw:\nevery value is NaN"
    assert nothing_finite(torch.tensor([[inf, -inf]])) == "nothing finite to draw:\nevery value is inf or -inf"
    assert nothing_finite(torch.tensor([[-inf, nan]])) == "nothing finite to draw:\nevery value is NaN or -inf"
    assert nothing_finite(torch.tensor([[nan, 0.5]])) == ""
    assert nothing_finite(torch.tensor([[nan, 0.5]]), difference=True) == ""
    assert nothing_finite(torch.tensor([[nan, inf]]), difference=True).startswith("nothing finite to compare:")
