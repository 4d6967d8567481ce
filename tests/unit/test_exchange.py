"""attnlab.exchange: a submission leaves out what editors leave beside a notebook, and its log says so truly.

nbgrader's own submit copies without `.ipynb_checkpoints` but compares every notebook it finds with the
release, so each JupyterLab submission logged its checkpoint as an EXTRA notebook. Checked here on folders
made in the test, with nbgrader's own copy rule and a stand-in for the rest of its submit app.
"""

from __future__ import annotations

import logging
import shutil

import pytest
from attnlab.exchange import EDITOR_LEFTOVERS, CourseSubmit, feedback_folder, left_out
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


@pytest.mark.parametrize(
    "timestamp, folder",
    [
        ("2026-12-07 11:53:27.755687 UTC", "2026-12-07_11-53-27_UTC"),
        ("2026-12-07 11:53:27", "2026-12-07_11-53-27"),
        ("../../etc passwd", "etc_passwd"),
        ("  ", "submission"),
    ],
)
def test_a_feedback_folder_is_named_without_spaces_and_is_never_a_path(timestamp, folder):
    assert feedback_folder(timestamp) == folder


def exchange(tmp_path):
    """nbgrader's exchange in tmp_path, lesson1 released, and alice's home with it fetched: (config, home)."""
    import nbformat
    from nbformat.v4 import new_notebook
    from traitlets.config import Config

    c = Config()
    c.CourseDirectory.course_id = "course"
    c.CourseDirectory.student_id = "alice"
    c.CourseDirectory.assignment_id = "lesson1"
    c.Exchange.root = str(tmp_path / "exchange")
    c.Exchange.cache = str(tmp_path / "cache")
    c.Exchange.assignment_dir = str(tmp_path / "home")
    for where in (tmp_path / "exchange" / "course" / "outbound" / "lesson1", tmp_path / "home" / "lesson1"):
        where.mkdir(parents=True)
        nbformat.write(new_notebook(), str(where / "lesson1.ipynb"))
    (tmp_path / "exchange" / "course" / "inbound").mkdir()
    (tmp_path / "exchange" / "course" / "feedback").mkdir()
    return c, tmp_path / "home" / "lesson1"


def run(app, c, **traits):
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory

    made = app(coursedir=CourseDirectory(config=c), authenticator=Authenticator(config=c), config=c, **traits)
    return made.start()


def submitted_with_feedback(tmp_path):
    """alice submits lesson1 (nbgrader's own submit) and the instructor releases its feedback."""
    from nbgrader.exchange.default import ExchangeSubmit
    from nbgrader.utils import notebook_hash

    c, home = exchange(tmp_path)
    run(ExchangeSubmit, c)
    (cached,) = (tmp_path / "cache" / "course").iterdir()
    secret = (cached / "submission_secret.txt").read_text()
    feedback = (
        tmp_path / "exchange" / "course" / "feedback" / f"{notebook_hash(secret=secret, notebook_id='lesson1')}.html"
    )
    feedback.write_text("<p>Score: 15.0 / 15.0</p>")
    return c, home, feedback


def test_fetched_feedback_goes_to_a_folder_without_spaces_and_the_assignment_list_finds_it(tmp_path):
    from attnlab.exchange import CourseFetchFeedback, CourseList

    c, home, feedback = submitted_with_feedback(tmp_path)
    (listed,) = run(CourseList, c, cached=True)
    assert listed["submissions"][0]["has_exchange_feedback"] and not listed["submissions"][0]["has_local_feedback"]

    run(CourseFetchFeedback, c)
    (folder,) = (home / "feedback").iterdir()
    assert " " not in folder.name and ":" not in folder.name and folder.name.endswith("_UTC")
    assert (folder / "lesson1.html").read_text() == feedback.read_text()
    (listed,) = run(CourseList, c, cached=True)
    (sub,) = listed["submissions"]
    assert sub["has_local_feedback"] and not sub["feedback_updated"]
    assert sub["local_feedback_path"] == str(folder)  # where "view feedback" in the Assignment List goes

    feedback.write_text("<p>Score: 14.0 / 15.0</p>")  # the instructor regrades and releases again
    (listed,) = run(CourseList, c, cached=True)
    assert listed["submissions"][0]["feedback_updated"]


def test_control_nbgraders_own_fetch_names_the_folder_with_spaces_and_its_list_misses_ours(tmp_path):
    """Without attnlab's classes: the folder has the whole timestamp with spaces, and nbgrader's own list does not
    see feedback where attnlab's fetch put it, so the two classes go together in the students' configuration."""
    from attnlab.exchange import CourseFetchFeedback
    from nbgrader.exchange.default import ExchangeFetchFeedback, ExchangeList

    c, home, _ = submitted_with_feedback(tmp_path)
    run(ExchangeFetchFeedback, c)
    (folder,) = (home / "feedback").iterdir()
    assert " " in folder.name
    shutil.rmtree(home / "feedback")
    run(CourseFetchFeedback, c)
    (listed,) = run(ExchangeList, c, cached=True)
    assert not listed["submissions"][0]["has_local_feedback"]
