"""attnlab: an autograded course on attention.

- ``attnlab.reference``: the answers, written from torch primitives (full install only: the student
  build, ``attnlab.student_build``, ships the public cases as data instead).
- ``attnlab grade`` / ``attnlab check`` (``attnlab.cli``): the trusted grader; student code runs only in
  a sandboxed child process (``attnlab.sandbox``, ``attnlab.runner``, ``attnlab.confine``) and is
  judged here, in the parent.
- ``from attnlab import check``: instant feedback inside a notebook, never used for grades.
"""

__version__ = "0.1.0"

__all__ = ["check", "__version__"]


def __getattr__(name):
    # Lazy, so that `import attnlab` stays cheap and pulls in neither torch nor the judge.
    if name == "check":
        from .notebook_check import check

        return check
    raise AttributeError(f"module 'attnlab' has no attribute {name!r}")
