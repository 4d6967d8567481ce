"""The class report in a real browser: a page written from real grades, opened from disk in Chromium.

Three example submissions are graded for real on the course's first four tasks (a few seconds; all eight take
several times as long) and filed under four students (bob and carol handed in the same file), with a fifth whose
notebook is broken. The page must name the most common diagnosis
with its count and hint, the students to look at first, and show every picture; it may fetch nothing but its
own files. Chromium and Playwright come with the project's set-up (`make install`); where one is missing, the
module is skipped with one line naming it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import skip_without_browser

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "assignments" / "examples"
TASK_IDS = ["qk_scores", "softmax_with_temperature", "causal_mask", "attention"]  # what the examples get wrong

skip_without_browser()

from attnlab.course import load_course  # noqa: E402
from attnlab.reporting.class_report import hint, write_class_report  # noqa: E402
from attnlab.running.found import Found  # noqa: E402
from attnlab.running.grade import grade_paths  # noqa: E402
from attnlab.running.results import make_record  # noqa: E402


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """index.html of a class: alice right, bob and carol without sqrt(d), dave masking after the softmax, eve's
    notebook unreadable."""
    root = tmp_path_factory.mktemp("class")
    broken = root / "submitted" / "eve" / "lesson1" / "lesson1.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    files = ["correct.py", "forgot_sqrt_d.py", "mask_after_softmax.py"]
    paths = [EXAMPLES / f for f in files] + [broken]
    results = grade_paths(paths, keep_going=True, course=load_course(), seed=1, device="cpu", task_ids=TASK_IDS)
    owners = [["alice"], ["bob", "carol"], ["dave"], ["eve"]]
    records = [
        make_record(f"{who}{i}", "0" * 64, "c", 1, TASK_IDS, Found(Path(result["submission"]), who, "lesson1"), result)
        for i, (result, names) in enumerate(zip(results, owners))
        for who in names
    ]
    return write_class_report(records, root / "report")


def test_the_report_reads_right_in_chromium_and_shows_every_picture(report, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url))
        page.goto(report.as_uri(), wait_until="load")
        top = page.inner_text("#diagnoses tbody tr:first-child")
        first = page.inner_text("#look-first tbody")
        images = page.evaluate(
            "Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
        )
        text = page.inner_text("body")
    finally:
        page.close()
    cells = top.split("\t")
    assert cells[0] == "missing_scale" and cells[2:4] == ["2", "2 (40%)"], top
    assert hint("missing_scale") in top and hint("missing_scale") in text
    assert "eve" in first and "unreadable: is not valid notebook JSON" in first
    assert "dave" in first and "among the lowest totals" in first
    assert "alice" not in first and "bob" not in first
    assert len(images) == 1 + 1 + len(TASK_IDS), images  # the diagnoses, the total, each task
    assert all(complete and width > 0 for _, complete, width in images), images
    assert all(url.startswith("file://") for url in asked), asked
