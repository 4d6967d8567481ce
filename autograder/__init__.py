"""attnlab: an autograded course on attention.

The layout is the architecture. The doors users come in by sit here: ``cli`` (``attnlab grade``,
``attnlab check``, ``attnlab doctor``), ``notebook_check`` (``from attnlab import check``: instant
feedback in a notebook, never used for grades), ``earlier_lessons`` (``from attnlab import earlier``: a
function of an earlier lesson, from the student's own notebook of it), ``pytest_plugin``,
``formgrader_guard`` (a Jupyter server extension) and ``student_build``, and the ``nbgrader/`` and ``hub/``
folders (``nbgrader_plugin`` only keeps the names that old nbgrader_config.py files import); with them ``course``
(course.yml's model), ``tasks`` (one spec per task) and ``inert`` (what a student wrote, made inert for
the pages staff open). Below them, one folder per trust zone:

- ``child/``: runs beside student code, in a sandboxed child process; imports nothing outside itself;
- ``running/``: the trusted parent's side of those processes: it starts them, feeds them and keeps time;
- ``judging/``: the trusted parent's verdicts on what they send back: scores, diagnoses and words;
- ``reporting/``: what people read of those verdicts: tables, JSON lines, pictures, the class report;
- ``answers/``: the cases' answers, the mistake models and the callee replay, never shipped to
  students (nor is ``attnlab.reference``, the reference answers: the student build leaves both out).
"""

from .version import __version__

__all__ = ["check", "earlier", "__version__"]


def __getattr__(name):
    # Lazy, so that `import attnlab` stays cheap and pulls in neither torch nor the judge.
    if name == "check":
        from .notebook_check import check

        return check
    if name == "earlier":
        from .earlier_lessons import earlier

        return earlier
    raise AttributeError(f"module 'attnlab' has no attribute {name!r}")
