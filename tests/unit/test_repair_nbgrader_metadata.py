"""RepairNbgraderMetadata and ReadableNotebooks: a hand-edited notebook passes nbgrader's own sanitize steps.

A small gradebook (sqlite, made with nbgrader's API) holds one assignment: a read-only cell, a solution
cell and a 15-point grade cell. Each tampering below stops nbgrader 0.9.6's sanitize pipeline on its own
(the `stock` checks), and passes it once repaired; the log says what was wrong, one line per repair.
The whole `nbgrader autograde` with these tamperings runs in tests/test_hostile_nbgrader.py.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import sys

import nbformat
import pytest
from attnlab.nbgrader import ReadableNotebooks, RepairNbgraderMetadata, RestoreDeletedCells
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = {  # grade_id: (source, kind, nbgrader metadata in the released notebook)
    "imports": ("import torch", {"grade": False, "solution": False, "locked": True}),
    "f_solution": ("def f(x):\n    return x", {"grade": False, "solution": True, "locked": False}),
    "f": ("check(f)", {"grade": True, "solution": False, "locked": True, "points": 15.0}),
}
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def released():
    from nbgrader.utils import compute_checksum

    cells = [new_markdown_cell("# hw")]
    for name, (source, meta) in CELLS.items():
        cell = new_code_cell(source, metadata={"nbgrader": {**meta, "grade_id": name, "schema_version": 3}})
        cell.metadata.nbgrader.update(checksum=compute_checksum(cell), cell_type="code")
        cells.append(cell)
    return new_notebook(cells=cells, metadata={"kernelspec": dict(KERNELSPEC)})


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory):
    from nbgrader.api import Gradebook

    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")  # alembic
    url = f"sqlite:///{tmp_path_factory.mktemp('gradebook') / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.update_or_create_assignment("hw")
        gb.update_or_create_notebook("nb", "hw", kernelspec=json.dumps(KERNELSPEC))
        checksums = {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["checksum"] for c in released().cells[1:]}
        for name, (source, meta) in CELLS.items():
            gb.update_or_create_source_cell(
                name, "nb", "hw", cell_type="code", locked=meta["locked"], source=source, checksum=checksums[name]
            )
            if meta["grade"]:
                gb.update_or_create_grade_cell(name, "nb", "hw", max_score=meta["points"], cell_type="code")
            if meta["solution"]:
                gb.update_or_create_solution_cell(name, "nb", "hw")
    return url


def _nbgrader(nb, index: int) -> dict:
    return nb.cells[index].metadata.nbgrader


def schema_99(nb):
    _nbgrader(nb, 2)["schema_version"] = 99


def schema_1(nb):
    _nbgrader(nb, 3)["schema_version"] = 1


def worth_1000(nb):
    _nbgrader(nb, 2).update(grade=True, points=1000)


def duplicate_id(nb):
    nb.cells.insert(1, copy.deepcopy(nb.cells[3]))


def new_grade_cell(nb):
    nb.cells.append(
        new_code_cell(
            "bonus = 1",
            metadata={
                "nbgrader": {
                    "grade": True,
                    "solution": False,
                    "locked": True,
                    "grade_id": "bonus",
                    "points": 100,
                    "schema_version": 3,
                }
            },
        )
    )


def emptied(nb):
    nb.cells[2].metadata.nbgrader = {}


def no_kernelspec(nb):
    del nb.metadata["kernelspec"]


TAMPERINGS = {  # the edit, and words its log line must say
    schema_99: "cell 3: f_solution: schema_version 99 (the gradebook says 3)",
    schema_1: "cell 4: f: schema_version 1 (the gradebook says 3)",
    worth_1000: "cell 3: f_solution: grade True (the gradebook says False), points 1000 (the gradebook says None)",
    duplicate_id: "cell 2: grade_id 'f' is also on cell 5, which keeps it; made a plain cell",
    new_grade_cell: "cell 5: grade_id 'bonus' is not in the gradebook",
    emptied: "cell 3: nbgrader metadata without a grade_id; made a plain cell",
    no_kernelspec: "kernelspec missing; filled in as python3",
}


def sanitize(nb, url: str, *, repair: bool) -> None:
    """nbgrader's sanitize steps that read the metadata, in its order, with attnlab's repair first or not."""
    from nbgrader.preprocessors import CheckCellMetadata, DeduplicateIds

    resources = {"nbgrader": {"notebook": "nb", "assignment": "hw", "student": "s", "db_url": url}}
    steps = [DeduplicateIds(), RestoreDeletedCells(), CheckCellMetadata()]
    for step in ([RepairNbgraderMetadata(log=logging.getLogger("attnlab-test"))] if repair else []) + steps:
        nb, resources = step.preprocess(nb, resources)


@pytest.mark.parametrize("tamper", list(TAMPERINGS), ids=lambda f: f.__name__)
def test_a_tampered_notebook_passes_nbgraders_checks_once_repaired(gradebook, tamper, caplog):
    nb = released()
    tamper(nb)
    if tamper is not no_kernelspec:  # nbgrader fills that one in itself (OverwriteKernelspec)
        with pytest.raises(Exception):  # noqa: B017 - SchemaTooOld/New, MissingEntry, KeyError, ValidationError
            sanitize(copy.deepcopy(nb), gradebook, repair=False)
    with caplog.at_level(logging.WARNING, logger="attnlab-test"):
        sanitize(nb, gradebook, repair=True)
    lines = [r.getMessage() for r in caplog.records if r.name == "attnlab-test"]
    assert len(lines) == 1 and lines[0].startswith("attnlab repaired s/hw/nb.ipynb: "), lines
    assert TAMPERINGS[tamper] in lines[0], lines
    graded = {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader for c in nb.cells if "nbgrader" in c.metadata}
    assert graded["f"]["grade"] and graded["f"]["points"] == 15.0 and not graded["f"]["solution"]
    if tamper is not emptied:  # else a plain cell now: its code is graded all the same, as the student's
        assert graded["f_solution"]["solution"] and not graded["f_solution"]["grade"]
    assert "bonus" not in graded and nb.metadata["kernelspec"]["name"] == "python3"


def test_an_untouched_notebook_is_left_as_it_is(gradebook, caplog):
    nb = released()
    with caplog.at_level(logging.WARNING, logger="attnlab-test"):
        sanitize(nb, gradebook, repair=True)
    assert [r for r in caplog.records if r.name == "attnlab-test"] == []
    assert [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells] == [None, *CELLS]


def _export(text: str, caplog):
    resources = {"nbgrader": {"notebook": "nb", "assignment": "hw", "student": "s"}}
    with caplog.at_level(logging.WARNING, logger="attnlab-test"):
        return ReadableNotebooks(log=logging.getLogger("attnlab-test")).from_file(io.StringIO(text), resources)


def test_an_odd_nbformat_minor_is_read_and_said(caplog):
    data = json.loads(nbformat.writes(released()))
    data["nbformat_minor"] = "4.5"
    with pytest.raises(Exception):  # noqa: B017 - what nbformat, and so nbgrader, does with it
        nbformat.reads(json.dumps(data), as_version=4)
    output, _ = _export(json.dumps(data), caplog)
    assert nbformat.reads(output, as_version=4).cells[2].source == "def f(x):\n    return x"
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["attnlab repaired s/hw/nb.ipynb: nbformat_minor '4.5' (read as 5)"]


def test_a_file_that_is_not_json_is_named_in_one_line(caplog):
    with pytest.raises(ValueError):
        _export("this is not a notebook {", caplog)
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("attnlab: s/hw/nb.ipynb is not JSON (Expecting value)") and "every other notebook" in line
