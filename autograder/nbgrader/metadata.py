"""What a student changed of nbgrader's own structure, put back before nbgrader trusts it: `RepairNbgraderMetadata`
(edited metadata, from the gradebook) and `RestoreDeletedCells` (a deleted grade cell, in ``OverwriteCells``' place).
"""

from __future__ import annotations

import copy
import json

import nbformat
from nbgrader.api import Gradebook
from nbgrader.nbgraderformat import SCHEMA_VERSION
from nbgrader.preprocessors import (
    NbGraderPreprocessor,
    OverwriteCells,
)
from traitlets import Bool


def notebook_name(resources) -> str:
    """'student/assignment/notebook.ipynb', as a log line names a submitted notebook."""
    ids = resources.get("nbgrader", {})
    return f"{ids.get('student', '?')}/{ids.get('assignment', '?')}/{ids.get('notebook', '?')}.ipynb"


class RepairNbgraderMetadata(NbGraderPreprocessor):
    """Puts a submitted notebook's nbgrader metadata back as the gradebook has it, before nbgrader reads it.

    nbgrader 0.9.6 trusts the metadata in the student's file, and one edit there stops it:

    - a ``schema_version`` other than 3 in any cell: CheckCellMetadata raises SchemaTooOldError or
      SchemaTooNewError, and ``nbgrader autograde`` stops for the whole assignment, every student after
      this one left ungraded;
    - a solution cell made a grade cell (``grade: true, points: 1000``): OverwriteCells asks the
      gradebook for that grade cell (MissingEntry), and the notebook is left to manual grading;
    - a duplicated ``grade_id``: DeduplicateIds empties one copy's metadata, on which OverwriteCells
      (KeyError: 'grade_id') and CheckCellMetadata (schema version 0) then fail;
    - a new grade cell: OverwriteCells drops its unknown grade_id, with the same KeyError after.

    Here, a cell whose ``grade_id`` is in the gradebook gets the gradebook's metadata (its kind, its
    points, schema version 3); where several cells carry one, the last keeps it, as nbgrader's
    DeduplicateIds decides. A cell with an unknown, repeated or missing ``grade_id`` loses its nbgrader
    metadata and becomes a plain cell: the trusted grader grades its code as the student's own. A
    missing kernelspec is filled in from the gradebook. Each repair is one warning line that names the
    notebook and what was wrong. Deleted grade cells are RestoreDeletedCells' job, later on.
    """

    KINDS = ("grade", "solution", "locked", "task")

    def preprocess(self, nb, resources):
        name = notebook_name(resources)
        ids = resources["nbgrader"]
        with Gradebook(ids["db_url"]) as gb:
            source = gb.find_notebook(ids["notebook"], ids["assignment"])
            wanted = self._gradebook_metadata(source)
            kernelspec = json.loads(source.kernelspec) if source.kernelspec else None
        last = {}  # grade_id -> index of the last cell that carries it
        for index, cell in enumerate(nb.cells):
            meta = cell.get("metadata", {}).get("nbgrader")
            if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
                last[meta["grade_id"]] = index
        for index, cell in enumerate(nb.cells):
            for what in self._repair_cell(cell, index, wanted, last):
                self.log.warning("attnlab repaired %s: cell %d: %s", name, index + 1, what)
        spec = nb.metadata.get("kernelspec")
        if not (isinstance(spec, dict) and isinstance(spec.get("name"), str)):
            nb.metadata["kernelspec"] = kernelspec or {
                "name": "python3",
                "display_name": "Python 3",
                "language": "python",
            }
            self.log.warning(
                "attnlab repaired %s: kernelspec %s; filled in as %s",
                name,
                "missing" if spec is None else repr(spec)[:80],
                nb.metadata["kernelspec"]["name"],
            )
        return nb, resources

    def _gradebook_metadata(self, source) -> dict[str, dict]:
        """grade_id -> the nbgrader metadata the gradebook's source notebook gives that cell."""
        grades = {c.name: c.max_score for c in source.grade_cells}
        tasks = {c.name: c.max_score for c in source.task_cells}
        solutions = {c.name for c in source.solution_cells}
        out = {}
        for cell in source.source_cells:
            meta = {
                "grade": cell.name in grades,
                "solution": cell.name in solutions,
                "locked": bool(cell.locked),
                "task": cell.name in tasks,
                "grade_id": cell.name,
                "schema_version": SCHEMA_VERSION,
                "cell_type": cell.cell_type,
            }
            if cell.name in grades or cell.name in tasks:
                meta["points"] = float(grades.get(cell.name, tasks.get(cell.name)))
            if isinstance(cell.checksum, str):
                meta["checksum"] = cell.checksum
            out[cell.name] = meta
        return out

    def _repair_cell(self, cell, index: int, wanted: dict, last: dict) -> list[str]:
        """Put one cell's nbgrader metadata right; what was wrong, in words (nothing when it was right)."""
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            return []
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        plain = "made a plain cell, whose code the trusted grader grades as the student's"
        if not isinstance(meta, dict):
            why = f"nbgrader metadata is a {type(meta).__name__}, not a mapping"
        elif grade_id is None:
            harmless = not any(meta.get(k) for k in self.KINDS) and meta.get("schema_version") == SCHEMA_VERSION
            del cell.metadata["nbgrader"]
            return [] if harmless else [f"nbgrader metadata without a grade_id; {plain}"]
        elif not isinstance(grade_id, str) or grade_id not in wanted:
            why = f"grade_id {str(grade_id)[:60]!r} is not in the gradebook (a cell the student added or renamed)"
        elif last[grade_id] != index:
            why = f"grade_id {grade_id!r} is also on cell {last[grade_id] + 1}, which keeps it"
        else:
            should = wanted[grade_id]
            wrong = [
                f"{key} {meta.get(key)!r} (the gradebook says {should.get(key)!r})"
                for key in ("schema_version", *self.KINDS, "points")
                if not self._same(meta.get(key), should.get(key))
            ]
            cell.metadata["nbgrader"] = nbformat.from_dict(copy.deepcopy(should))
            return [f"{grade_id}: {', '.join(wrong)}; put back as the gradebook has it"] if wrong else []
        del cell.metadata["nbgrader"]
        return [f"{why}; {plain}"]

    @staticmethod
    def _same(got, want) -> bool:
        if want is None or isinstance(want, bool):
            return bool(got) == bool(want) if want is not None else got is None
        try:
            return not isinstance(got, bool) and float(got) == float(want)
        except (TypeError, ValueError):
            return False


class RestoreDeletedCells(OverwriteCells):
    """OverwriteCells that puts a deleted grade cell back after the nearest source cell still there.

    nbgrader 0.9.6's own ``add_missing_cells`` looks the previous source cell up among grade and
    solution cells only, so it fails (KeyError) when that cell is a read-only one, such as the lessons'
    ``<task>_check`` cells, and the student's whole notebook is then left ungraded. The cell comes back
    with nbgrader's note ("This cell ... was missing from the submission") at the top of its source.
    """

    add_missing_cells = Bool(True, help="Put deleted grade cells back (attnlab: on by default).").tag(config=True)

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [cell.name for cell in source_nb.source_cells]
        solutions = {cell.name for cell in source_nb.solution_cells}
        by_name = {cell.name: cell for cell in source_nb.source_cells}
        for grade_cell in source_nb.grade_cells:
            present = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(nb.cells)}
            if grade_cell.name in present:
                continue
            self.log.warning(
                "attnlab repaired %s: grade cell %s was deleted; put back", notebook_name(resources), grade_cell.name
            )
            cell = self.missing_cell_transform(
                by_name[grade_cell.name], grade_cell.max_score, is_solution=grade_cell.name in solutions
            )
            earlier = order[: order.index(grade_cell.name)] if grade_cell.name in order else []
            at = next((present[name] + 1 for name in reversed(earlier) if name in present), len(nb.cells))
            nb.cells.insert(at, cell)
        return nb, resources

    def add_missing_task_cells(self, nb, resources):
        """nbgrader's, without its KeyError on a cell whose nbgrader metadata has no grade_id."""
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        by_name = {cell.name: cell for cell in source_nb.source_cells}
        present = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
        for task_cell in source_nb.task_cells:
            if task_cell.name not in present and task_cell.name in by_name:
                nb.cells.append(self.missing_cell_transform(by_name[task_cell.name], task_cell.max_score, is_task=True))
        return nb, resources
