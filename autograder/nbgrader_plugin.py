"""Where an nbgrader_config.py written by attnlab 0.1 finds its classes: ``attnlab.nbgrader`` holds them now.

A course root keeps the nbgrader_config.py that ``attnlab nbgrader-config`` wrote for it, and nbgrader imports
what that file names (``from attnlab.nbgrader_plugin import ...``, ``"attnlab.nbgrader_plugin.InertPage"``). So
that upgrading attnlab never breaks a course's grading, those names still import from here. Write the config
again (``attnlab nbgrader-config``) to name ``attnlab.nbgrader`` instead.
"""

from .nbgrader import *  # noqa: F403
from .nbgrader import __all__  # noqa: F401
