"""The grading service's one entry, end to end: found submissions in, results out in input order, the results
file kept, and a rerun that grades nothing."""

from __future__ import annotations

import pytest
from conftest import REPO


@pytest.mark.slow
def test_one_entry_grades_found_submissions_in_input_order(course, tmp_path):
    from attnlab.running.found import expand
    from attnlab.running.results import ResultsFile
    from attnlab.running.service import grade

    found = expand([str(REPO / "assignments" / "examples")])
    names = [str(f.path) for f in found]  # the result names each as it was found
    emitted, progressed = [], []
    with ResultsFile(tmp_path / "r.jsonl") as file:
        results = grade(
            found,
            course=course,
            seed=11,
            jobs=2,
            results=file,
            on_result=lambda item, r: emitted.append(r["submission"]),
            progress=lambda item, r, stored: progressed.append(stored),
        )
    assert [r["submission"] for r in results] == names == emitted
    totals = {r["submission"].rsplit("/", 1)[-1]: r["total"] for r in results}
    assert totals["correct.py"] == 125 and all(t < 125 for n, t in totals.items() if n != "correct.py")
    assert progressed == [False] * len(found)
    with ResultsFile(tmp_path / "r.jsonl") as file:  # again: every grade comes from the file
        again = grade(
            found, course=course, seed=11, results=file, progress=lambda i, r, stored: progressed.append(stored)
        )
    assert [r["total"] for r in again] == [r["total"] for r in results]
    assert progressed[len(found) :] == [True] * len(found)
