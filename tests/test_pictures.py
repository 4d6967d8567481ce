"""Pictures of mistakes: in `attnlab grade --report`, and from `task_figure` for check() and nbgrader."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from attnlab.judging.diagnose import TITLES
from conftest import REPO, SUBMISSIONS, build

PNG = b"\x89PNG\r\n\x1a\n"


def test_grade_draws_each_task_that_lost_points(course, zygote, tmp_path):
    from attnlab.running.grade import grade_paths

    paths = [
        build(SUBMISSIONS / "mistakes" / name, tmp_path)
        for name in ("mask_inverted.py", "plot_wrong_data.py", "exception.py")
    ]
    results = grade_paths(
        paths,
        course=course,
        seed=2,
        zygote=zygote,
        pictures=True,
        task_ids=["qk_scores", "causal_mask", "plot_attention"],
    )
    by_name = {r["submission"].rsplit("/", 1)[-1]: r for r in results}
    assert set(by_name["mask_inverted.py"]["pictures"]) == {"causal_mask"}
    assert set(by_name["plot_wrong_data.py"]["pictures"]) == {"plot_attention"}
    assert by_name["exception.py"]["pictures"] == {}  # an exception has nothing to draw: its words say it
    for r in results:
        for png in r["pictures"].values():
            assert png.startswith(PNG) and len(png) > 5000


@pytest.mark.slow
def test_report_folder_holds_json_and_pngs_that_it_names(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "attnlab.cli",
            "grade",
            str(REPO / "assignments" / "examples" / "forgot_sqrt_d.py"),
            "--json",
            "--seed",
            "4",
            "--tasks",
            "qk_scores,causal_mask",
            "--report",
            str(tmp_path / "rep"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "rep" / "forgot_sqrt_d.json").read_text())
    qk = report["tasks"][0]
    assert qk["picture"] == "forgot_sqrt_d.qk_scores.png"
    assert (tmp_path / "rep" / qk["picture"]).read_bytes().startswith(PNG)
    assert "picture" not in report["tasks"][1]  # causal_mask passed
    assert json.loads(out.stdout)["total"] == report["total"]


def test_figure_shows_yours_expected_and_difference():
    import torch
    from attnlab.course import load_course
    from attnlab.notebook_check import run_in_process
    from attnlab.reporting.pictures import task_figure

    def qk_scores(q, k):
        return q @ k.transpose(-2, -1)

    course = load_course(REPO / "course.yml")
    result = run_in_process(qk_scores, course.task("qk_scores"), course, seed=1)
    fig = task_figure(result)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["your scores", "expected scores", "|yours - expected|"]
    panels = {ax.get_title(): torch.as_tensor(ax.images[0].get_array()) for ax in fig.axes if ax.images}
    mine, expected, diff = panels["your scores"], panels["expected scores"], panels["|yours - expected|"]
    assert mine.shape == expected.shape == diff.shape
    assert torch.allclose(diff, (mine - expected).abs())
    assert float(diff.max()) > 0.1  # the picture shows the mistake, not two equal panels
    title = fig._suptitle.get_text()
    assert TITLES["missing_scale"] in title and "missing_scale" not in title  # the mistake in words, not its id


def test_figure_has_its_own_agg_canvas_and_makes_a_png():
    from attnlab.course import load_course
    from attnlab.notebook_check import run_in_process
    from attnlab.reporting.pictures import task_figure, task_png
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    def qk_scores(q, k):
        return q @ k.transpose(-2, -1)

    course = load_course(REPO / "course.yml")
    result = run_in_process(qk_scores, course.task("qk_scores"), course, seed=1)
    assert type(task_figure(result).canvas) is FigureCanvasAgg
    assert task_png(result).startswith(PNG)


def test_an_encoding_is_drawn_as_positions_by_features():
    from attnlab.course import load_course
    from attnlab.notebook_check import run_in_process
    from attnlab.reporting.pictures import task_figure

    def positional_encoding(seq_len, d_model, device=None):  # cos in the even columns: pe_sin_cos_swapped
        import torch

        angle = torch.arange(seq_len).unsqueeze(1) / 10000 ** (torch.arange(0, d_model, 2) / d_model)
        return torch.stack([angle.cos(), angle.sin()], dim=-1).reshape(seq_len, d_model).float()

    course = load_course(REPO / "course.yml")
    fig = task_figure(run_in_process(positional_encoding, course.task("positional_encoding"), course, seed=1))
    drawn = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in drawn] == ["your pe", "expected pe", "|yours - expected|"]
    assert {(ax.get_ylabel(), ax.get_xlabel()) for ax in drawn} == {("position", "feature")}
    title = fig._suptitle.get_text()
    assert TITLES["pe_sin_cos_swapped"] in title and "pe_sin_cos_swapped" not in title
