"""`ClearLockedHiddenTests`: the feedback a student fetches never shows a hidden test, in a locked cell or not."""

from __future__ import annotations

from nbgrader import utils as nbgrader_utils
from nbgrader.preprocessors import ClearHiddenTests


class ClearLockedHiddenTests(ClearHiddenTests):
    """ClearHiddenTests for feedback: only in locked grade cells, the instructor's.

    A student's own cell that happens to contain the delimiters is left alone rather than stopping the
    student's feedback with nbgrader's "hidden test region in a non-grade cell" error.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if nbgrader_utils.is_grade(cell) and nbgrader_utils.is_locked(cell):
            return super().preprocess_cell(cell, resources, cell_index)
        return cell, resources
