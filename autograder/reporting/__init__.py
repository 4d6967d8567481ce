"""Reporting: what people read of results, drawn from results already judged.

Its one rule: **reporting runs no child.** It imports nothing of ``running/`` that starts a process and judges
nothing again: it turns `judging`'s results into tables, JSON lines, pictures and the class report
(``tests/unit/test_layout.py`` checks it).

- ``report.py``: a rich table for people and one JSON line per submission for programs; any table's way to
  its reader, whatever its width;
- ``pictures.py``: the picture of a task's mistake: yours, the expected one, and where they differ;
- ``class_report.py``: one static HTML page over a class run's results, for the teacher.
"""
