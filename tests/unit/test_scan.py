"""forbidden.scan_source: every reach past the student's own code is flagged, however spelled; honest code is not."""

from __future__ import annotations

import pytest
from attnlab.judging.scan import scan_source

DEFAULT = [
    "softmax",
    "log_softmax",
    "scaled_dot_product_attention",
    "MultiheadAttention",
    "multi_head_attention_forward",
]
HEAD = (
    "import gc\nimport importlib\nimport inspect\nimport operator\nimport os\nimport sys\nimport sys as system\n"
    "import torch\nimport torch.nn.functional as F\n"
)


def _in_function(line: str) -> list[str]:
    """The names of the findings charged to a function whose body is `line`."""
    src = f"{HEAD}def qk_scores(q, k):\n    x = None\n    {line}\n    return q\n"
    return [f.name for f in scan_source([src], DEFAULT).get("qk_scores", [])]


@pytest.mark.parametrize(
    "line",
    [
        # the module table, and __main__
        "sys.modules['__main__'].Detectors = None",
        "system.modules.get('x')",
        "torch.sys.modules",
        "os.sys.modules",
        "getattr(sys, 'mod' + 'ules')",
        "vars(sys)['modules']",
        "sys.__dict__['modules']",
        "__import__('sys').modules",
        "importlib.import_module('s' + 'ys')",
        "x = '__main__'",
        # the garbage collector, ctypes, inspect
        "gc.get_objects()",
        "torch.gc",
        "__import__('g' + 'c')",
        "inspect.currentframe()",
        # frames and tracebacks
        "sys._getframe(1)",
        "x.f_back.f_globals",
        "x.f_locals",
        "x.__traceback__.tb_frame",
        "(i for i in ()).gi_frame",
        "x.cr_frame",
        "getattr(x, 'tb_' + 'frame')",
        "sys.settrace(None)",
        # a function's insides
        "qk_scores.__globals__",
        "getattr(qk_scores, f\"__{'glob'}als__\")",
        "qk_scores.__closure__[0].cell_contents",
        "qk_scores.__code__",
        "().__class__.__base__.__subclasses__()",
        "print.__self__",
        # builtins, eval and its kin
        "__builtins__['getattr']",
        "globals()['x'] = 1",
        "globals().update(x=1)",
        "globals()[x]",
        "vars()['y'] = 2",
        "locals().update(y=2)",
        "eval('1')",
        "exec('x = 1')",
        "compile('1', 'f', 'eval')",
        # names built at run time
        "getattr(torch, x)",
        "setattr(torch, x, None)",
        "hasattr(F, x)",
        "delattr(F, x)",
        "object.__getattribute__(F, x)",
        "F.__getattr__(x)",
        "operator.attrgetter(x)(F)",
        "importlib.import_module(x)",
        "__import__(x)",
        "g = getattr",
        "F.__dict__[x]",
    ],
)
def test_every_reach_past_the_runner_is_flagged(line):
    names = _in_function(line)
    assert any(n.startswith("evasion:") for n in names), (line, names)


@pytest.mark.parametrize(
    "expr",
    [
        '"multi_head_" + "attention_forward"',
        '"".join(["soft", "max"])',
        '"xamtfos"[::-1]',
        "f\"{'soft'}max\"",
        '"%s%s" % ("soft", "max")',
        '"{}{}".format("soft", "max")',
        '"SOFTMAX".lower()',
        "_n",
    ],
)
def test_a_forbidden_name_spelled_from_pieces_is_found_as_that_name(expr):
    src = (
        f"import torch.nn.functional as F\n_n = 'soft' + 'max'\ndef softmax_with_temperature(s, t=1.0, dim=-1):\n"
        f"    return getattr(F, {expr})(s / t, dim)\n"
    )
    names = [f.name for f in scan_source([src], DEFAULT)["softmax_with_temperature"]]
    assert names and set(names) <= {"softmax", "multi_head_attention_forward", "MultiheadAttention"}, (expr, names)


def test_a_module_level_alias_of_a_forbidden_function_is_charged_where_it_is_used():
    src = (
        "import torch.nn.functional as F\n_f = F.softmax\n_g = _f\n"
        "def attention(q, k, v, mask=None, temperature=1.0):\n"
        "    return _g(q, -1), None\n"
    )
    assert [f.name for f in scan_source([src], DEFAULT)["attention"]] == ["softmax"]


HONEST = """
import math
import re
import sys

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn


def qk_scores(q, k):
    print(f"shapes {q.shape} {k.shape}", file=sys.stderr)
    return torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.shape[-1])


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        for name in "qkvo":
            setattr(self, f"W_{name}", nn.Linear(d_model, d_model, bias=bias))
        self.pattern = re.compile(r"\\w+")

    def forward(self, x, causal=False):
        q, k, v = (getattr(self, f"W_{n}")(x) for n in "qkv")
        assert hasattr(x, "shape") and "x" in locals() and sum(1 for _ in self.modules())
        self.eval()
        return self.W_o(F.linear(v, torch.eye(v.shape[-1]))), qk_scores(q, k)


def plot_attention(weights, query_tokens, key_tokens=None, ax=None):
    fig, ax = plt.subplots() if ax is None else (ax.figure, ax)
    ax.imshow(torch.as_tensor(weights).numpy())
    return ax


if __name__ == "__main__":
    sys.exit(0)
"""


def test_honest_code_is_not_flagged():
    assert scan_source([HONEST], DEFAULT) == {}


def test_a_reach_at_load_is_charged_to_every_task_even_from_a_helper():
    src = "import sys\ndef _setup():\n    sys.modules['x'] = None\n_setup()\ndef qk_scores(q, k):\n    return q @ k.T\n"
    found = scan_source([src], DEFAULT)
    assert [f.name for f in found["_setup"]] == ["evasion:sys.modules"]
    assert [(f.name, f.owner) for f in found[""]] == [("evasion:sys.modules", "")]
    assert "qk_scores" not in found


def test_a_reach_inside_a_function_that_nothing_calls_at_load_stays_with_it():
    src = "import gc\ndef qk_scores(q, k):\n    gc.collect()\n    return q @ k.T\n"
    found = scan_source([src], DEFAULT)
    assert [f.name for f in found["qk_scores"]] == ["evasion:gc"]
    assert [f.name for f in found[""]] == ["evasion:import gc"]  # the import itself is module-level code
