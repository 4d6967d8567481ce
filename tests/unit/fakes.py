"""Made-up worker replies, as `attnlab.child.worker.Worker` would send them, for judging without a child process.

A test says what a student's function returns on each case (`answer(case) -> (meta, tensors)`), and
`judge` runs the parent's judging on the course's real cases (cpu only), exactly as `attnlab grade` does.
"""

from __future__ import annotations

from pathlib import Path

import torch
from attnlab.course import load_course
from attnlab.judging.case import DT
from attnlab.judging.cases import make_cases
from attnlab.judging.judge import judge_task

COURSE = load_course(Path(__file__).resolve().parents[2] / "course.yml")
SEED = 5
#: What the worker's dispatch layer reports for an honest computation of any task (``meta["trace"]``).
WATCHED = {
    "ops": ["addmm", "bmm", "div", "exp", "masked_fill", "max", "mm", "ones", "sub", "sum", "tril", "view"],
    "dispatch": 40,
    "function": 30,
}


def cases(task_id: str):
    return make_cases(task_id, SEED, COURSE.dtypes, ["cpu"])


def judge(task_id: str, answer, the_cases=None):
    """The TaskResult for a student whose function gives `answer(case)` on each case."""
    the_cases = cases(task_id) if the_cases is None else the_cases
    replies, tensors = {}, {}
    for c in the_cases:
        replies[c.id], tensors[c.id] = answer(c)
    return judge_task(COURSE.task(task_id), the_cases, replies, tensors, COURSE)


def returns(*outs: torch.Tensor) -> tuple[dict, dict]:
    """The reply to a call that returned `outs` (one tensor, or a tuple of several)."""
    described, tensors = [], {}
    for i, t in enumerate(outs):
        described.append(
            {
                "kind": "tensor",
                "name": f"out.{i}",
                "dtype": str(t.dtype).replace("torch.", ""),
                "shape": list(t.shape),
                "device": t.device.type,
                "requires_grad": False,
                "subclass": False,
            }
        )
        tensors[f"out.{i}"] = t
    meta = {
        "status": "ok",
        "outputs": described,
        "tuple": len(outs) > 1,
        "mutated": [],
        "forbidden": [],
        "evasion": False,
        "callee_calls": [],
        "callee_forbidden": {},
        "trace": dict(WATCHED),
    }
    return meta, tensors


def raised(kind: str, msg: str, tb: str = "", frames=("qk_scores",)) -> tuple[dict, dict]:
    return {
        "status": "error",
        "error": {"type": kind, "msg": msg, "tb": tb, "frames": list(frames)},
        "callee_calls": [],
        "forbidden": [],
        "evasion": False,
    }, {}


def returned_instead_of_raising(case) -> tuple[dict, dict]:
    """An `expect_error` case's reply from code that returned a tensor rather than raising the ValueError."""
    return {
        "status": "ok",
        "raised": None,
        "returned": "Tensor",
        "mutated": [],
        "forbidden": [],
        "evasion": False,
        "callee_calls": [],
    }, {}


def right(case) -> tuple[dict, dict]:
    """The reference's own outputs, in the case's dtype (bool for a mask)."""
    return returns(*(e if e.dtype == torch.bool else e.to(DT[case.dtype]) for e in case.expected))


def filled(case, value) -> tuple[dict, dict]:
    """Every output of the expected shape and dtype, holding `value` everywhere."""
    return returns(
        *(torch.full(e.shape, value, dtype=e.dtype if e.dtype == torch.bool else DT[case.dtype]) for e in case.expected)
    )


def on_meta(case) -> tuple[dict, dict]:
    """The meta-device run of code that keeps its outputs on the inputs' device."""
    return {"status": "ok", "meta_run": {"devices": ["meta"] * len(case.expected)}}, {}


def checks_right(case, values):
    """`values(case)` on value cases; on the meta device and on invalid input, what a careful student does."""
    if case.kind == "meta_device":
        return on_meta(case)
    if case.kind == "expect_error":
        return {
            "status": "ok",
            "raised": case.expected,
            "raised_msg": "invalid",
            "mutated": [],
            "forbidden": [],
            "evasion": False,
            "callee_calls": [],
        }, {}
    return values(case)


# ------------------------------------------------------------------------------ more made-up replies


def computed(case, *outs: torch.Tensor) -> tuple[dict, dict]:
    """The reply of a function that computed `outs` (float64, or bool for a mask) and returned them in the
    case's dtype, as a student's code on inputs of that dtype would."""
    return returns(*(o if o.dtype == torch.bool else o.to(DT[case.dtype]) for o in outs))


def changed(answer, **meta):
    """`answer` with `meta` merged into every reply it gives (``mutated=[0]``, ``forbidden=[...]``, ...)."""

    def changed_answer(case):
        reply, tensors = answer(case)
        return {**reply, **meta}, tensors

    return changed_answer


def judge_run(task_id: str, answer, the_cases=None, **options):
    """Like `judge`, where `answer(case)` may give None (the case got no reply: the parent never heard of it),
    and `options` go to ``judge_task`` (failure, callee_status, uses, findings, contract)."""
    the_cases = cases(task_id) if the_cases is None else the_cases
    replies, tensors = {}, {}
    for c in the_cases:
        given = answer(c)
        if given is not None:
            replies[c.id], tensors[c.id] = given
    return judge_task(COURSE.task(task_id), the_cases, replies, tensors, COURSE, **options)


def callee_call(tensors: dict, index: int, name: str, args: list, result) -> dict:
    """One record of ``meta["callee_calls"]`` (``detectors.CalleeRecorder.export``): the student's callee `name`
    was called with `args` (tensors or plain values) and returned `result` (a tensor or a tuple of them);
    its tensors go into `tensors` under the names the recorder gives them."""

    def enc(value, key):
        if isinstance(value, torch.Tensor):
            tensors[key] = value.detach().clone()
            return {"t": key}
        return {"v": value}

    results = result if isinstance(result, tuple) else (result,)
    return {
        "name": name,
        "args": [enc(a, f"callee.{index}.arg.{i}") for i, a in enumerate(args)],
        "kwargs": {},
        "result": [enc(r, f"callee.{index}.out.{i}") for i, r in enumerate(results)],
        "tuple": isinstance(result, tuple),
    }


def heatmap(
    grid,
    xticklabels,
    yticklabels,
    *,
    xticks=None,
    yticks=None,
    xlabel: str = "key",
    ylabel: str = "query",
    colorbar: bool = True,
) -> tuple[dict, dict]:
    """The description ``figure_data.describe_axes`` gives of ``ax.imshow(grid)`` (rows along y, row i at y = i,
    column j at x = j), with these tick labels, one at each cell's centre unless `xticks`/`yticks` say where."""
    import numpy as np

    grid = np.asarray(grid, dtype=np.float64)
    rows, cols = grid.shape
    meta = {
        "kind": "imshow",
        "shape": [rows, cols],
        "xticks": [float(j) for j in range(len(xticklabels))] if xticks is None else list(xticks),
        "xticklabels": list(xticklabels),
        "yticks": [float(i) for i in range(len(yticklabels))] if yticks is None else list(yticks),
        "yticklabels": list(yticklabels),
        "xlabel": xlabel,
        "ylabel": ylabel,
        "colorbar": colorbar,
    }
    arrays = {
        "grid": grid,
        "x_centers": np.arange(cols, dtype=np.float64),
        "y_centers": np.arange(rows, dtype=np.float64),
    }
    return meta, arrays


def drawn(meta: dict, arrays: dict, *, drew_on_given_ax: bool = True) -> tuple[dict, dict]:
    """The plot case's reply for a figure described by (meta, arrays), as the worker sends it."""
    reply = {"status": "ok", "figure": meta, "drew_on_given_ax": drew_on_given_ax, "forbidden": [], "evasion": False}
    return reply, {f"fig.{n}": torch.as_tensor(a, dtype=torch.float64) for n, a in arrays.items()}


def said(status: str) -> tuple[dict, dict]:
    """The parent's own reply for a case the worker could not answer: timeout, crashed, not_run, pending."""
    return {"status": status}, {}


# --------------------------------------------------------------------- a student's code, written out


def f64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float64)


def student_softmax(x: torch.Tensor, T: float = 1.0, dim: int = -1, *, stable=True, all_masked_ok=True):
    """softmax(x / T) along dim as a student writes it: the row maximum subtracted first (`stable`), and a row
    that is entirely -inf giving zeros (`all_masked_ok`); either left out where asked."""
    z = x / T
    if stable:
        m = z.amax(dim=dim, keepdim=True)
        if all_masked_ok:
            m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        z = z - m
    e = z.exp()
    total = e.sum(dim=dim, keepdim=True)
    return e / (torch.where(total > 0, total, torch.ones_like(total)) if all_masked_ok else total)


def student_mha(
    case,
    *,
    split_without_transpose=False,
    skip_out=False,
    scale_by_d_model=False,
    average_weights=False,
    causal_mask=None,
):
    """(output, weights) of a student's MultiHeadAttention.forward on a module case's weights and x, in float64,
    with the slips asked for; `causal_mask(L)` is the student's own mask (default: j <= i)."""
    st = {k: f64(v) for k, v in case.extra["state"].items()}
    x = f64(case.extra["x"])
    B, L, dm = x.shape
    H = case.extra["H"]
    dh = dm // H

    def lin(name, t):
        return t @ st[f"{name}.weight"].T + st.get(f"{name}.bias", 0.0)

    def split(t):
        return t.reshape(B, H, L, dh) if split_without_transpose else t.reshape(B, L, H, dh).permute(0, 2, 1, 3)

    q, k, v = split(lin("W_q", x)), split(lin("W_k", x)), split(lin("W_v", x))
    s = q @ k.transpose(-2, -1) / (dm if scale_by_d_model else dh) ** 0.5
    if case.extra["causal"]:
        mask = causal_mask(L) if causal_mask else torch.ones(L, L, dtype=torch.bool).tril()
        s = s.masked_fill(~mask, float("-inf"))
    w = student_softmax(s)
    o = w @ v
    o = o.reshape(B, L, dm) if split_without_transpose else o.permute(0, 2, 1, 3).reshape(B, L, dm)
    out = o if skip_out else lin("W_o", o)
    return out, (w.mean(dim=1) if average_weights else w)
