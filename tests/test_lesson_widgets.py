"""The lessons' widgets, moved the way a student moves them: in a live kernel, after the lesson has run.

Each test runs a source notebook (with its solutions) top to bottom, keeps its kernel, and runs more code in
that kernel: the code moves a widget and asserts on what the figure now draws. A failed assertion there fails
the test with the kernel's traceback. ipywidgets is installed here, so the lessons take their widget branch;
`without_ipywidgets` runs a cell again as it runs where ipywidgets is missing, to reach the static fallback.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from test_notebooks import KERNEL_ENV, lesson_client

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "assignments" / "source"


def run_lesson_then(lesson: str, *extra: str) -> list[str]:
    """Run the lesson's source notebook, then each `extra` code in the same kernel; returns what each printed.

    Raises nbclient's CellExecutionError at the first cell that fails, the extra ones included.
    """
    nb = nbformat.read(SOURCE / lesson / f"{lesson}.ipynb", as_version=4)
    client = lesson_client(nb, lesson)
    added = [new_code_cell(code) for code in extra]
    with client.setup_kernel(env=KERNEL_ENV):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        for cell in added:
            nb.cells.append(cell)
            client.execute_cell(cell, len(nb.cells) - 1)
    return ["".join(out.text for out in cell.outputs if out.output_type == "stream") for cell in added]


def cell_source(lesson: str, cell_id: str) -> str:
    """The source of one cell of the lesson's source notebook, found by its id."""
    nb = nbformat.read(SOURCE / lesson / f"{lesson}.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if c.id == cell_id]
    return cell.source


def without_ipywidgets(code: str) -> str:
    """`code`, run where `import ipywidgets` raises ImportError, as on a machine without it."""
    return f"import sys\nsys.modules['ipywidgets'] = None\n{code}"


# Runs in lesson 2's kernel. The figure's state is what redraw(T) updates: slider_bars, slider_readout.
MOVE_THE_TEMPERATURE = """
import torch


def drawn():
    heights = torch.tensor([bar.get_height() for bar in slider_bars], dtype=torch.float64)
    text = slider_readout.get_text()
    return heights, float(text.split("effective choices:")[1].split()[0]), text


def softmax_at(T):
    return torch.softmax(CANDIDATE_SCORES.double() / T, dim=-1)


def effective(w):
    return torch.exp(-(w * w.log()).sum()).item()


# An arrow key moves the dial one step: a fiftieth of the range, so that crossing it takes 50 presses.
assert abs((slider.max - slider.min) / slider.step - 50) < 1e-9, (slider.min, slider.max, slider.step)

heights, choices, text = drawn()
assert torch.allclose(heights, softmax_at(1.0), atol=1e-6), ("the slider starts at T = 1", heights)
assert "T = 1.00" in text, text

slider.value = 0.1
cold, cold_choices, text = drawn()
assert not torch.allclose(cold, heights), "moving the slider to T = 0.1 left the bars as they were"
assert torch.allclose(cold, softmax_at(0.1), atol=1e-6), ("bars at T = 0.1", cold, softmax_at(0.1))
assert "T = 0.10" in text, text
assert abs(cold_choices - effective(softmax_at(0.1))) < 0.01 and cold_choices < choices, (text, choices)

slider.value = 3.0
hot, hot_choices, text = drawn()
assert torch.allclose(hot, softmax_at(3.0), atol=1e-6), ("bars at T = 3", hot, softmax_at(3.0))
assert hot.max() < heights.max() < cold.max() and hot.min() > heights.min(), "T = 3 is not flatter than T = 1"
assert abs(hot_choices - effective(softmax_at(3.0))) < 0.01 and hot_choices > choices, (text, choices)

# Control: with the callback unplugged, moving the slider changes nothing on the figure, so the
# checks above saw redraw's work and nothing else.
slider.unobserve(on_slide, names="value")
slider.value = 0.1
assert torch.equal(drawn()[0], hot), "the bars changed without the callback"
print(f"effective choices: {cold_choices:.2f} at T = 0.1, {choices:.2f} at T = 1, {hot_choices:.2f} at T = 3")
"""


@pytest.mark.slow
def test_lesson2_temperature_slider_redraws_the_figure_and_falls_back_without_ipywidgets():
    slider_cell = cell_source("lesson2_softmax", "l2-temperature-slider")
    moved, fallback = run_lesson_then(
        "lesson2_softmax", MOVE_THE_TEMPERATURE, without_ipywidgets(slider_cell + "\nprint(widgets is None)")
    )
    assert moved.startswith("effective choices: 1."), moved
    assert fallback == "ipywidgets is not installed: the grid above shows four positions of the dial.\nTrue\n"


# Runs in lesson 3's kernel: moves the position slider from 0 to 3 ('the') and prints what show_position drew
# before and after. The expected weights come from torch.softmax, not from the lesson's own functions.
MOVE_THE_POSITION = """
import json

import torch


def drawn():
    return {
        "position": STEP["position"],
        "figure": id(STEP["figure"]),
        "title": STEP["figure"].get_suptitle(),
        "bars": [bar.get_height() for bar in STEP["budget_axes"].containers[0]],
    }


before = drawn()
slider.value = 3
after = drawn()
allowed = torch.ones(5, 5).tril().bool()
scores = (QUERIES @ KEYS.T / KEYS.shape[-1] ** 0.5).masked_fill(~allowed, float("-inf"))
expected = torch.softmax(scores, dim=-1)[3].tolist()
print(json.dumps({"before": before, "after": after, "expected": expected, "play": play.tooltip}))
"""

# What the static grid drew where ipywidgets is missing: one panel per position, then the whole mask.
DRAWN_AT_ONCE = """
import json

print(json.dumps({
    "titles": [ax.get_title() for ax in STEP["figure"].axes],
    "bars": [bar.get_height() for bar in STEP["figure"].axes[0].containers[0]],
}))
"""


@pytest.mark.slow
def test_lesson3_position_slider_redraws_the_mask_and_falls_back_to_every_position_at_once():
    step_cell = cell_source("lesson3_masking", "l3-step-plot")
    moved, fallback = run_lesson_then(
        "lesson3_masking", MOVE_THE_POSITION, without_ipywidgets(step_cell + DRAWN_AT_ONCE)
    )
    moved = json.loads(moved)
    before, after = moved["before"], moved["after"]
    assert before["position"] == 0, "the slider starts at position 0, drawn once when it is shown"
    assert after["position"] == 3, "moving the slider did not call show_position: is the callback connected?"
    assert after["figure"] != before["figure"], "moving the slider did not draw a new figure"
    assert "Position 3: 'the'" in after["title"], after["title"]
    # The budget of 'the': its weights over the keys it may see, and exactly 0 for the hidden 'mouse'.
    assert after["bars"] == pytest.approx(moved["expected"], abs=1e-6)
    assert after["bars"][4] == 0.0 and sum(after["bars"]) == pytest.approx(1.0)
    assert before["bars"] == pytest.approx([1.0, 0.0, 0.0, 0.0, 0.0]), "position 0 sees only itself"
    assert moved["play"] == "Step through the positions, one every 1.5 seconds"  # Play says what it does

    said, _, grid = fallback.partition("\n{")
    assert "ipywidgets is not installed" in said
    grid = json.loads("{" + grid)
    tokens = ["The", "cat", "chased", "the", "mouse"]
    assert [title.split("'")[1] for title in grid["titles"][: len(tokens)]] == tokens, grid["titles"]
    assert grid["bars"] == [1.0, 0.0, 0.0, 0.0, 0.0], "position 0 sees only itself"
