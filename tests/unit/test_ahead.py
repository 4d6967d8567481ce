"""Imports ahead (`child.ahead`): what a submission's functions import in their bodies is imported while it
loads, on a budget of its own, so that a slow first import is never charged to a task's time limit."""

from __future__ import annotations

import sys
import time

import pytest
from attnlab.child.ahead import TimeUp, import_ahead, modules_named, time_limit
from torch.nn import Linear


def test_modules_named_finds_imports_inside_functions_and_classes():
    source = """
import math
from os import path

def plot_attention(weights, tokens):
    import seaborn as sns
    from matplotlib import pyplot as plt, colors
    return sns, plt

class Head:
    def forward(self):
        import numpy.linalg
        from . import sibling
        from __future__ import annotations
"""
    assert modules_named([source]) == [
        "math",
        "os",
        "os.path",
        "seaborn",
        "matplotlib",
        "matplotlib.pyplot",
        "matplotlib.colors",
        "numpy.linalg",
    ]


def test_modules_named_skips_a_cell_that_does_not_parse_and_names_each_module_once():
    assert modules_named(["def f(:\n  import json", "import json\nimport json", "from json import *"]) == ["json"]


@pytest.fixture
def modules(tmp_path, monkeypatch):
    """write(name, body): a module on sys.path, forgotten again after the test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written = []

    def write(name: str, body: str) -> str:
        (tmp_path / f"{name}.py").write_text(body)
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def test_import_ahead_imports_what_is_not_imported_yet(modules):
    name = modules("attnlab_ahead_plain", "VALUE = 1\n")
    assert import_ahead(["math", name], 5) == [name]  # math was imported already
    assert sys.modules[name].VALUE == 1


def test_import_ahead_skips_what_is_no_module_or_does_not_import(modules):
    broken = modules("attnlab_ahead_broken", "raise RuntimeError('no')\n")
    fine = modules("attnlab_ahead_fine", "")
    names = ["torch.float32", "math.pi", "attnlab_ahead_missing", broken, fine]
    assert import_ahead(names, 5) == [fine]
    assert broken not in sys.modules


def test_import_ahead_stops_at_its_budget(modules):
    endless = modules("attnlab_ahead_endless", "while True:\n    pass\n")
    after = modules("attnlab_ahead_after", "")
    t0 = time.monotonic()
    assert import_ahead([endless, after], 0.3) == []
    assert time.monotonic() - t0 < 2
    assert endless not in sys.modules and after not in sys.modules


def test_time_limit_raises_in_the_code_inside_and_is_gone_after():
    t0 = time.monotonic()
    with pytest.raises(TimeUp), time_limit(0.2):
        while True:
            pass
    assert time.monotonic() - t0 < 2
    time.sleep(0.3)  # no alarm left behind


def _helper(x):
    import json  # noqa: F401

    return x


def _mine(x):
    from torch.nn import Linear as _local  # noqa: F401  (what the function itself imports is read too)

    return _helper(Linear(2, 2)(x))


def test_check_reads_the_students_own_functions_and_never_a_librarys():
    """check() imports ahead what the function and the functions of its own module that it calls import; a
    library's class it uses (torch's Linear) is not read, so nothing of that library is imported ahead."""
    from attnlab.notebook_check import _sources

    text = "\n".join(_sources(_mine))
    assert "import json" in text and "def _mine" in text and "from torch.nn import Linear" in text
    assert "class Linear" not in text
