"""The reference answers (``attention.py``), as the student contract names them. Never shipped to students."""

from pathlib import Path

from . import attention as _module
from .attention import *  # noqa: F403 - the names attention.py's __all__ lists, kept in one place

#: The file that holds them, which the grader can grade like a submission (the self-check does).
SOURCE = Path(__file__).resolve().with_name("attention.py")

__all__ = [*_module.__all__, "SOURCE"]
