"""Which attnlab this is: its version, and whether it is the student build. The standard library only.

The rooms below the package root read the version here, never from the root; the CLI and the pytest plugin ask
`is_student_build` here, so that neither door imports the other.
"""

import importlib.util

__version__ = "0.1.0"


def is_student_build() -> bool:
    """Whether this attnlab is the student build: it has no answers zone (``judging.cases.answers`` is None
    there), found without importing anything heavy."""
    return importlib.util.find_spec(f"{__package__}.answers") is None
