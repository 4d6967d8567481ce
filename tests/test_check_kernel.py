"""check() in a real Jupyter kernel with its default (inline) matplotlib backend: the kernel stays the student's.

tests/test_notebooks.py runs the lessons with ``MPLBACKEND=Agg``, so it cannot see what check() does to a
kernel's plotting. Here the kernel starts as a student's does: no ``MPLBACKEND``, no ``%matplotlib`` magic.
"""

from __future__ import annotations

import os
import sys

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # a real Jupyter kernel

CELLS = [
    "import sys\nprint(sys.prefix)",
    "def qk_scores(q, k):\n    return q @ k.transpose(-2, -1)  # forgot to divide by sqrt(d)",
    "from attnlab import check\ncheck(qk_scores)",
    "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
    "import math\n\ndef qk_scores(q, k):\n    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])\n\n"
    "check(qk_scores)",
]


def run_in_kernel(cells: list[str], cwd) -> list:
    """Run `cells` in one fresh `python3` kernel, started as Jupyter starts it for a student."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    # jupyter_client starts a kernelspec whose argv begins with "python" with this interpreter: the venv's.
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(cwd)}},
        shutdown_kernel="immediate",  # once every cell has run; a kernel with torch loaded takes seconds to exit
    )
    client.execute(env={k: v for k, v in os.environ.items() if k != "MPLBACKEND"})
    return nb.cells


def printed(cell) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream")


def test_check_draws_its_picture_and_leaves_the_kernels_plots_alone(tmp_path):
    where, wrong, checked, plotted, fixed = run_in_kernel(CELLS, tmp_path)
    assert printed(where).strip() == sys.prefix

    assert "FAIL qk_scores:" in printed(checked)
    kinds = [o.output_type for o in checked.outputs]
    assert "execute_result" not in kinds, "check() leaves an Out[...] under the cell"
    shown = [o.data for o in checked.outputs if o.output_type == "display_data"]
    assert any("image/png" in d for d in shown), f"no picture of the mistake: {shown}"
    assert not any(d.get("text/plain", "").startswith("<Figure") for d in shown), shown

    assert any(o.output_type == "display_data" and "image/png" in o.data for o in plotted.outputs), (
        f"plt.show() after check() drew nothing: {plotted.outputs}"
    )

    assert printed(fixed).startswith("PASS qk_scores:")
    assert not [o for o in fixed.outputs if o.output_type != "stream"], fixed.outputs
