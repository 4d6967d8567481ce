"""`ReadableNotebooks`: autograde's exporter, which reads what a hand edit left of a notebook's JSON and names a file
that is not JSON at all, so that one notebook never stops the class.
"""

from __future__ import annotations

import json

import nbformat
from nbconvert.exporters import NotebookExporter

from ..running.submission import repair_notebook_json
from .metadata import notebook_name


class ReadableNotebooks(NotebookExporter):
    """nbgrader's notebook exporter, for autograde: it reads what a hand edit left of a notebook's JSON,
    and names a notebook that no one can read.

    nbformat refuses a notebook whose ``nbformat_minor`` is not a whole number (``"4.5"``) before any
    preprocessor runs; such fields are put right here (``submission.repair_notebook_json``, as
    ``attnlab grade`` reads them), one warning line each. A file that is not JSON cannot be read by
    anyone: one error line names it and says why, and nbgrader goes on to every other notebook of the
    assignment (it leaves this one to manual grading and ends with exit code 1).
    """

    def from_file(self, file_stream, resources=None, **kw):
        name = notebook_name(resources or {})
        try:
            data = json.loads(file_stream.read())
        except (ValueError, RecursionError) as e:  # not JSON, not UTF-8, or nested past Python's stack
            why = f"is not JSON ({e.msg if isinstance(e, json.JSONDecodeError) else type(e).__name__})"
            self.log.error("attnlab: %s %s; nbgrader cannot grade it, and grades every other notebook", name, why)
            raise ValueError(f"{name} {why}") from None
        for what in repair_notebook_json(data):
            self.log.warning("attnlab repaired %s: %s", name, what)
        try:
            nb = nbformat.reads(json.dumps(data), as_version=4)
        except Exception as e:  # noqa: BLE001 - nbformat raises several kinds for a broken file
            self.log.error(
                "attnlab: %s is JSON but not a notebook nbformat can read (%s: %s); nbgrader cannot grade "
                "it, and grades every other notebook",
                name,
                type(e).__name__,
                str(e)[:120],
            )
            raise ValueError(f"{name} is not a readable notebook") from None
        return self.from_notebook_node(nb, resources=resources, **kw)
