"""attnlab.exchange: a submission leaves out what editors leave beside a notebook, and its log says so truly.

nbgrader's own submit copies without `.ipynb_checkpoints` but compares every notebook it finds with the
release, so each JupyterLab submission logged its checkpoint as an EXTRA notebook. Checked here on folders
made in the test, with nbgrader's own copy rule and a stand-in for the rest of its submit app.
"""

from __future__ import annotations

import logging
import shutil

import pytest
from attnlab.exchange import EDITOR_LEFTOVERS, CourseSubmit, left_out
from nbgrader.utils import ignore_patterns


@pytest.mark.parametrize(
    "path",
    [
        ".ipynb_checkpoints/lesson1-checkpoint.ipynb",
        "sub/.ipynb_checkpoints/x-checkpoint.ipynb",
        ".virtual_documents/lesson1.ipynb",
        "feedback/2026-12-07/lesson1.ipynb",
        "lesson1.ipynb~",
    ],
)
def test_editor_leftovers_are_left_out(path):
    assert left_out(path, EDITOR_LEFTOVERS)


@pytest.mark.parametrize("path", ["lesson1.ipynb", "notes/my_checkpoints.ipynb", "data/feedback.csv"])
def test_the_students_own_files_are_kept(path):
    assert not left_out(path, EDITOR_LEFTOVERS)


def test_nbgraders_copy_leaves_out_the_same_files(tmp_path):
    """The rule and nbgrader's copy agree: what `left_out` names is what nbgrader's copy does not copy."""
    src = tmp_path / "src"
    paths = [
        "lesson1.ipynb",
        ".ipynb_checkpoints/lesson1-checkpoint.ipynb",
        ".virtual_documents/lesson1.ipynb",
        "notes.ipynb~",
        "notes/x.ipynb",
    ]
    for rel in paths:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("{}")
    shutil.copytree(src, tmp_path / "dst", ignore=ignore_patterns(exclude=EDITOR_LEFTOVERS, max_file_size=1 << 20))
    copied = {p.relative_to(tmp_path / "dst").as_posix() for p in (tmp_path / "dst").rglob("*") if p.is_file()}
    assert copied == {p for p in paths if not left_out(p, EDITOR_LEFTOVERS)} == {"lesson1.ipynb", "notes/x.ipynb"}


class Submit:
    """What CourseSubmit.check_filename_diff reads of nbgrader's submit app."""

    def __init__(self, release, src, strict=False):
        self.release_path, self.src_path, self.strict = str(release), str(src), strict
        self.coursedir = type("CD", (), {"assignment_id": "lesson1", "ignore": EDITOR_LEFTOVERS})()
        self.log = logging.getLogger("test-submit")
        self.check_filename_diff = CourseSubmit.check_filename_diff.__get__(self)

    def fail(self, message):
        raise RuntimeError(message)


def folder(root, *notebooks):
    for rel in notebooks:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("{}")
    return root


def test_a_checkpoint_is_not_called_an_extra_notebook(tmp_path, caplog):
    release = folder(tmp_path / "release", "lesson1.ipynb")
    src = folder(tmp_path / "src", "lesson1.ipynb", ".ipynb_checkpoints/lesson1-checkpoint.ipynb")
    with caplog.at_level(logging.WARNING, "test-submit"):
        Submit(release, src).check_filename_diff()
    assert caplog.text == ""


def test_a_real_extra_or_missing_notebook_is_still_named(tmp_path, caplog):
    release = folder(tmp_path / "release", "lesson1.ipynb", "part2.ipynb")
    src = folder(tmp_path / "src", "lesson1.ipynb", "mine.ipynb")
    with caplog.at_level(logging.WARNING, "test-submit"):
        Submit(release, src).check_filename_diff()
    assert "part2.ipynb: MISSING" in caplog.text and "mine.ipynb: EXTRA" in caplog.text
    with pytest.raises(RuntimeError, match="part2.ipynb: MISSING"):
        Submit(release, src, strict=True).check_filename_diff()
