"""The cases of every task, drawn from a seed and answered by the reference. Never shipped to students.

Each task's cases are drawn from a seed, and the reference answers them in float64 on the very same
inputs: the expected outputs, the gradients and, for a caller task, a `recompute` that runs the
reference caller with other callee functions put in (``replay.rebound``).
``attnlab.grading.cases.make_cases`` uses it; the student build ships the public seed's cases as data.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .. import reference as ref
from ..grading.cases import DT, Case
from ..reference.attention import sinusoids
from .replay import rebound

# ------------------------------------------------------------------------------------ the cases, answered

#: The tokens of the plot cases' heatmaps.
TOKENS = ["the", "trophy", "did", "not", "fit", "in", "the", "suitcase", "because", "it", "was", "too", "big"]


def draw_cases(task_id: str, seed: int, dtypes: list[str], devices: list[str]) -> list[Case]:
    """All cases of one task, answered. The seed is mixed with the task id, so tasks draw independently."""
    mix = sum((i + 1) * ord(c) for i, c in enumerate(task_id))
    return BUILDERS[task_id](Draw(seed * 1_000_003 + mix), dtypes, devices)


def f64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float64)


class Draw:
    """Draws inputs from one seeded generator, so that a seed fixes every case (``attnlab.task_api`` hands one
    to a course task's case builder)."""

    def __init__(self, seed: int):
        self.g = torch.Generator().manual_seed(int(seed))

    def randn(self, *shape, dtype: str = "float32", scale: float = 1.0) -> torch.Tensor:
        """Normal numbers of this shape, times `scale`, drawn in float64 and rounded to `dtype` (a course dtype)."""
        return (torch.randn(*shape, generator=self.g, dtype=torch.float64) * scale).to(DT[dtype])

    def randint(self, low: int, high: int, *shape) -> torch.Tensor:
        """Integers in [low, high) of this shape, int64 (lengths, token ids, positions)."""
        return torch.randint(low, high, shape, generator=self.g, dtype=torch.int64)

    def linears(self, params: list[str], dm: int, dtype: str, bias: bool) -> dict[str, torch.Tensor]:
        """The state of nn.Linear(dm, dm) layers by parameter name ("W_q.weight"): weights of scale 1/sqrt(dm),
        small biases (none without `bias`)."""
        state = {}
        for p in params:
            if p.endswith("bias") and not bias:
                continue
            shape = (dm, dm) if p.endswith("weight") else (dm,)
            state[p] = self.randn(*shape, dtype=dtype, scale=1 / math.sqrt(dm) if p.endswith("weight") else 0.1)
        return state

    def mask(self, L: int, S: int, full_row: int | None = None) -> torch.Tensor:
        """A random (L, S) bool mask, True where a query may see a key: every query sees one key at least, but
        query `full_row`, which sees none."""
        m = torch.rand(L, S, generator=self.g) < 0.6
        m[torch.arange(L), torch.randint(0, S, (L,), generator=self.g)] = True  # every row sees something
        if full_row is not None:
            m[full_row] = False
        return m


def grads_of(fn: Callable, inputs: list[torch.Tensor], upstream: list) -> list[torch.Tensor | None]:
    """Reference gradients in float64 of sum(upstream * outputs) w.r.t. inputs."""
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    outs = fn(*leaves)
    outs = outs if isinstance(outs, tuple) else (outs,)
    pairs = [(o, u) for o, u in zip(outs, upstream) if u is not None]
    total = sum((o * u).nan_to_num(0.0).sum() for o, u in pairs)
    return list(torch.autograd.grad(total, leaves, allow_unused=True))


# ------------------------------------------------------------------------------------------- qk_scores


def qk_cases(m: Draw, dtypes: list[str], devices: list[str]) -> list[Case]:
    plan = [
        # (leading, L, S, d, dtype, grad, note)
        ((), 5, 7, 8, "float32", True, "no batch, L != S"),
        ((3,), 4, 4, 8, "float64", True, "one batch dim, square"),
        ((2, 3), 1, 6, 64, "float32", True, "two batch dims, L = 1, d = 64"),
        ((2,), 5, 6, 8, "float16", False, ""),
        ((4,), 6, 6, 64, "bfloat16", False, ""),
        ((), 6, 3, 1, "float32", False, "d = 1"),
        ((2,), 3, 5, 16, "float64", False, "large logits"),
    ]
    cases = []
    for n, (lead, L, S, d, dt, grad, note) in enumerate(plan):
        if dt not in dtypes:
            continue
        scale = 30.0 if note == "large logits" else 1.0
        q, k = m.randn(*lead, L, d, dtype=dt, scale=scale), m.randn(*lead, S, d, dtype=dt, scale=scale)
        cases.append(_qk_case(m, f"v{n}", q, k, dt, "cpu", grad, note))
    d = 64
    e1 = torch.zeros(1, d, dtype=torch.float32)
    e1[0, 0] = 1.0
    cases.append(_qk_case(m, "e1", e1, e1.clone(), "float32", "cpu", False, "probe: q = k = e1, d = 64", probe="e1"))
    if "cuda" in devices:
        q, k = m.randn(2, 5, 8), m.randn(2, 7, 8)
        cases.append(_qk_case(m, "cuda", q, k, "float32", "cuda", False, "on cuda"))
    cases.append(
        Case(
            "qk_scores",
            "meta",
            "q, k on a device other than the CPU",
            "meta_device",
            {
                "kind": "meta_device",
                "args": [{"shape": [2, 5, 8], "dtype": "float32"}, {"shape": [2, 7, 8], "dtype": "float32"}],
            },
            expected=["meta"],
        )
    )
    return cases


def _qk_case(m, cid, q, k, dt, device, grad, note, probe="") -> Case:
    spec = {"kind": "call", "args": [{"t": "q", "grad": grad}, {"t": "k", "grad": grad}]}
    exp = [ref.qk_scores(f64(q), f64(k))]
    case = Case(
        "qk_scores",
        cid,
        f"q {tuple(q.shape)}, k {tuple(k.shape)} {dt}" + (f" ({note})" if note else ""),
        "call",
        spec,
        {"q": q, "k": k},
        dt,
        device,
        exp,
        probe=probe,
    )
    if grad:
        up = m.randn(*exp[0].shape, dtype="float64")
        case.tensors["up0"] = up
        spec["grad"] = {"upstream": ["up0"], "args": [0, 1]}
        gq, gk = grads_of(ref.qk_scores, [f64(q), f64(k)], [up])
        case.expected_grads = {"arg.0": gq, "arg.1": gk}
    return case


# ---------------------------------------------------------------------------- softmax_with_temperature


def softmax_cases(m: Draw, dtypes: list[str], devices: list[str]) -> list[Case]:
    plan = [
        # (shape, T, dim, dtype, scale, grad, note)
        ((4, 7), 1.0, -1, "float32", 1.0, True, ""),
        ((2, 3, 5), 0.5, -1, "float64", 1.0, True, "T = 0.5"),
        ((3, 5, 4), 1.0, 1, "float32", 1.0, False, "dim = 1"),
        ((4, 6), 2.0, 0, "float64", 1.0, False, "dim = 0, T = 2"),
        ((2, 6), 0.05, -1, "float32", 1.0, False, "tiny temperature 0.05"),
        ((2, 6), 1e-3, -1, "float64", 3.0, False, "tiny temperature 0.001"),
        ((3, 6), 3.0, -1, "float32", 1.0, False, "T = 3"),
        ((3, 6), 1e3, -1, "float64", 1.0, False, "huge temperature 1000"),
        ((2, 8), 1.0, -1, "float32", 1e4, False, "large logits, |x| ~ 1e4"),
        ((4, 8), 1.0, -1, "float16", 1.0, False, ""),
        ((4, 8), 0.7, -1, "bfloat16", 1.0, False, "T = 0.7"),
    ]
    cases = []
    for n, (shape, T, dim, dt, scale, grad, note) in enumerate(plan):
        if dt not in dtypes:
            continue
        cases.append(_softmax_case(m, f"v{n}", m.randn(*shape, dtype=dt, scale=scale), T, dim, dt, grad, note))
    x = m.randn(3, 5, dtype="float32")
    x[1] = float("-inf")
    cases.append(
        _softmax_case(m, "masked_row", x, 1.0, -1, "float32", False, "row 1 is entirely -inf", probe="full_row")
    )
    x = m.randn(3, 5, dtype="float32")
    cases.append(
        _softmax_case(m, "shift", x + 50.0, 1.0, -1, "float32", False, "every score shifted by +50", probe="shift")
    )
    for bad in ["0.0", "-1.0", "nan", "inf"]:
        cases.append(
            Case(
                "softmax_with_temperature",
                f"bad_T_{bad}",
                f"temperature = {bad}",
                "expect_error",
                {"kind": "expect_error", "args": [{"t": "x"}, {"float": bad}]},
                {"x": m.randn(2, 3)},
                "float32",
                expected="ValueError",
                probe="invalid_T",
            )
        )
    if "cuda" in devices:
        cases.append(_softmax_case(m, "cuda", m.randn(4, 7), 1.0, -1, "float32", False, "on cuda", device="cuda"))
    return cases


def _softmax_case(m, cid, x, T, dim, dt, grad, note, probe="", device="cpu") -> Case:
    spec = {"kind": "call", "args": [{"t": "x", "grad": grad}, {"v": T}], "kwargs": {"dim": {"v": dim}}}
    exp = [ref.softmax_with_temperature(f64(x), T, dim)]
    label = f"scores {tuple(x.shape)} {dt}, temperature {T:g}, dim {dim}" + (f" ({note})" if note else "")
    case = Case(
        "softmax_with_temperature",
        cid,
        label,
        "call",
        spec,
        {"x": x},
        dt,
        device,
        exp,
        probe=probe,
        extra={"T": T, "dim": dim},
    )
    if grad:
        up = m.randn(*x.shape, dtype="float64")
        case.tensors["up0"] = up
        spec["grad"] = {"upstream": ["up0"], "args": [0]}
        (gx,) = grads_of(lambda t: ref.softmax_with_temperature(t, T, dim), [f64(x)], [up])
        case.expected_grads = {"arg.0": gx}
    return case


# -------------------------------------------------------------------------------------------- causal_mask


def mask_cases(m: Draw, dtypes: list[str], devices: list[str]) -> list[Case]:
    cases = [_mask_case(f"n{n}", f"seq_len = {n}", n) for n in (1, 5, 8)]
    cases.append(_mask_case("device_cpu", "seq_len = 4, device = torch.device('cpu')", 4, given="cpu"))
    on_meta = {"kind": "meta_device", "args": [{"v": 4}], "kwargs": {"device": {"device": "meta"}}}
    cases.append(
        Case(
            "causal_mask",
            "meta",
            "seq_len = 4, device= a device other than the CPU",
            "meta_device",
            on_meta,
            expected=["meta"],
        )
    )
    for bad in (0, -3):
        spec = {"kind": "expect_error", "args": [{"v": bad}]}
        label = f"seq_len = {bad}"
        cases.append(
            Case("causal_mask", f"bad_{bad}", label, "expect_error", spec, expected="ValueError", probe="invalid_len")
        )
    if "cuda" in devices:
        cases.append(_mask_case("cuda", "seq_len = 5 on cuda", 5, device="cuda", given="cuda"))
    return cases


def _mask_case(cid: str, label: str, n: int, device: str = "cpu", given: str | None = None) -> Case:
    """causal_mask(n), with `device=given` passed where given."""
    spec: dict = {"kind": "call", "args": [{"v": n}]}
    if given is not None:
        spec["kwargs"] = {"device": {"device": given}}
    return Case("causal_mask", cid, label, "call", spec, {}, "bool", device, [ref.causal_mask(n)], extra={"n": n})


# ---------------------------------------------------------------------------------------------- attention


def attention_cases(m: Draw, dtypes: list[str], devices: list[str]) -> list[Case]:
    cases = []
    plan = [
        # (leading, L, S, d, dv, dtype, mask, T, grad, note)
        ((), 5, 7, 8, 4, "float32", None, 1.0, False, "no mask, L != S"),
        ((2,), 4, 6, 8, 3, "float64", "random", 1.0, True, "random mask"),
        ((2, 3), 5, 5, 8, 8, "float32", "causal", 1.0, True, "causal mask"),
        ((2,), 4, 5, 8, 3, "float32", "full_row", 1.0, False, "query 2 may see no key"),
        ((2,), 6, 6, 8, 4, "float16", "causal", 1.0, False, "causal mask"),
        ((2,), 6, 6, 16, 4, "bfloat16", "causal", 1.0, False, "causal mask"),
        ((3,), 4, 6, 8, 5, "float64", "random", 0.5, False, "temperature 0.5"),
        ((2,), 1, 6, 64, 4, "float32", None, 1.0, False, "L = 1, d = 64"),
    ]
    for n, (lead, L, S, d, dv, dt, mk, T, grad, note) in enumerate(plan):
        if dt not in dtypes:
            continue
        q, k, v = m.randn(*lead, L, d, dtype=dt), m.randn(*lead, S, d, dtype=dt), m.randn(*lead, S, dv, dtype=dt)
        cases.append(_attention_case(m, f"v{n}", q, k, v, _attention_mask(m, mk, L, S), T, dt, grad, note))
    # Probe: with V = I the output is the weights themselves.
    L = S = 5
    q, k = m.randn(2, L, 8), m.randn(2, S, 8)
    eye = torch.eye(S).expand(2, S, S).contiguous()
    note = "probe: V = I, so the output shows the weights"
    cases.append(
        _attention_case(m, "v_identity", q, k, eye, ref.causal_mask(L), 1.0, "float32", False, note, probe="V=I")
    )
    if "cuda" in devices:
        q, k, v = m.randn(2, 4, 8), m.randn(2, 6, 8), m.randn(2, 6, 3)
        cases.append(_attention_case(m, "cuda", q, k, v, m.mask(4, 6), 1.0, "float32", False, "on cuda", device="cuda"))
    shapes = [([2, 4, 8], "float32"), ([2, 6, 8], "float32"), ([2, 6, 3], "float32"), ([4, 6], "bool")]
    on_meta = {"kind": "meta_device", "args": [{"shape": shape, "dtype": dt} for shape, dt in shapes]}
    label = "q, k, v and mask on a device other than the CPU"
    cases.append(Case("attention", "meta", label, "meta_device", on_meta, expected=["meta", "meta"]))
    return cases


def _attention_mask(m: Draw, kind: str | None, L: int, S: int) -> torch.Tensor | None:
    """No mask, the causal one, or a random one (with query 2 seeing nothing, for "full_row")."""
    if kind is None:
        return None
    if kind == "causal":
        return ref.causal_mask(L)
    return m.mask(L, S, 2 if kind == "full_row" else None)


def _attention_case(m, cid, q, k, v, mask, T, dt, grad, note, probe="", device="cpu") -> Case:
    tensors = {"q": q, "k": k, "v": v}
    args = [{"t": "q", "grad": grad}, {"t": "k", "grad": grad}, {"t": "v", "grad": grad}]
    if mask is not None:
        tensors["mask"] = mask
        args.append({"t": "mask"})
    else:
        args.append({"v": None})
    args.append({"v": T})
    spec = {"kind": "call", "args": args, "record_callees": True}
    q64, k64, v64 = f64(q), f64(k), f64(v)

    def recompute(**callees):
        return list(rebound(ref.attention, callees)(q64, k64, v64, mask, T))

    exp = recompute()
    shape = f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)} {dt}"
    case = Case(
        "attention",
        cid,
        shape + (f" ({note})" if note else ""),
        "call",
        spec,
        tensors,
        dt,
        device,
        exp,
        recompute=recompute,
        probe=probe,
        extra={"mask": mask, "T": T},
    )
    if grad:
        ups = [m.randn(*e.shape, dtype="float64") for e in exp]
        case.tensors.update(up0=ups[0], up1=ups[1])
        spec["grad"] = {"upstream": ["up0", "up1"], "args": [0, 1, 2]}
        g = grads_of(lambda a, b, c: ref.attention(a, b, c, mask, T), [q64, k64, v64], ups)
        case.expected_grads = {f"arg.{i}": gi for i, gi in enumerate(g)}
    return case


# ----------------------------------------------------------------------------------- multi_head_attention

PARAMS = ["W_q.weight", "W_k.weight", "W_v.weight", "W_o.weight", "W_q.bias", "W_k.bias", "W_v.bias", "W_o.bias"]


def mha_cases(m: Draw, dtypes: list[str], devices: list[str]) -> list[Case]:
    cases = []
    plan = [
        # (B, L, d_model, H, bias, causal, dtype, grad, probe, note)
        (2, 5, 16, 4, True, False, "float32", False, "", ""),
        (2, 5, 16, 4, True, True, "float32", False, "", "causal"),
        (2, 4, 8, 2, True, True, "float64", True, "", "causal"),
        (2, 6, 12, 3, False, False, "float64", False, "", "bias = False"),
        (2, 5, 8, 1, True, True, "float32", False, "H=1", "probe: one head, so a head-split bug vanishes"),
        (
            2,
            5,
            16,
            4,
            True,
            False,
            "float32",
            False,
            "W_o=I",
            "probe: W_o = I, so a missing output projection vanishes",
        ),
        (2, 5, 16, 4, True, True, "float16", False, "", "causal"),
        (2, 5, 16, 4, True, True, "bfloat16", False, "", "causal"),
        (2, 5, 16, 4, True, None, "float32", False, "", "causal not given: its default, False"),
    ]
    for n, (B, L, dm, H, bias, causal, dt, grad, probe, note) in enumerate(plan):
        if dt not in dtypes:
            continue
        cases.append(_mha_case(m, f"v{n}", B, L, dm, H, bias, causal, dt, grad, probe, note))
    if "cuda" in devices:
        cases.append(_mha_case(m, "cuda", 2, 5, 16, 4, True, True, "float32", False, "", "on cuda", device="cuda"))
    cases.append(
        Case(
            "multi_head_attention",
            "bad_heads",
            "MultiHeadAttention(10, 3): 10 is not divisible by 3",
            "expect_error",
            {"kind": "expect_error", "args": [{"v": 10}, {"v": 3}]},
            expected="ValueError",
            probe="invalid_heads",
        )
    )
    cases.append(
        Case(
            "multi_head_attention",
            "meta",
            "x on a device other than the CPU, causal = True",
            "meta_device",
            {
                "kind": "meta_device",
                "module": True,
                "init": [16, 4],
                "args": [{"shape": [2, 5, 16], "dtype": "float32"}],
                "kwargs": {"causal": {"v": True}},
            },
            expected=["meta", "meta"],
        )
    )
    return cases


def _mha_case(m, cid, B, L, dm, H, bias, causal, dt, grad, probe, note, device="cpu") -> Case:
    """forward(x, causal=causal); with causal None, forward(x): the contract's default, False."""
    given = causal is not None
    causal = bool(causal)
    state = m.linears(PARAMS, dm, dt, bias)
    if probe == "W_o=I":
        state["W_o.weight"] = torch.eye(dm, dtype=DT[dt])
        state["W_o.bias"] = torch.zeros(dm, dtype=DT[dt])
    x = m.randn(B, L, dm, dtype=dt)
    tensors = {"x": x, **{f"p.{k}": v for k, v in state.items()}}
    spec = {
        "kind": "module",
        "init": [dm, H, bias],
        "state": {k: f"p.{k}" for k in state},
        "dtype": dt,
        "args": [{"t": "x", "grad": grad}],
        "kwargs": {"causal": {"v": causal}} if given else {},
        "record_callees": True,
    }
    ref_mod = ref.MultiHeadAttention(dm, H, bias=bias).to(torch.float64)
    with torch.no_grad():
        for k, v in state.items():
            ref_mod.get_parameter(k).copy_(f64(v))
    x64 = f64(x)

    def recompute(**callees):
        with torch.no_grad():
            return list(rebound(ref.MultiHeadAttention.forward, callees)(ref_mod, x64, causal))

    exp = recompute()
    label = f"B={B}, L={L}, d_model={dm}, n_heads={H} {dt}" + (f" ({note})" if note else "")
    case = Case(
        "multi_head_attention",
        cid,
        label,
        "module",
        spec,
        tensors,
        dt,
        device,
        exp,
        recompute=recompute,
        probe=probe,
        extra={"H": H, "d_model": dm, "causal": causal, "state": state, "x": x},
    )
    if grad:
        _module_grads(m, case, ref_mod, lambda leaf: ref_mod(leaf, causal))
    return case


def _module_grads(m: Draw, case: Case, module, run: Callable) -> None:
    """Ask a module case for gradients: upstream gradients for its outputs, and the reference's gradients of
    sum(upstream * outputs) w.r.t. x ("arg.0") and every parameter of its state ("param.W_q.weight"), where
    `run(x)` gives `module`'s outputs."""
    ups = [m.randn(*e.shape, dtype="float64") for e in case.expected]
    case.tensors.update(up0=ups[0], up1=ups[1])
    case.spec["grad"] = {"upstream": ["up0", "up1"], "args": [0]}
    names = list(case.spec["state"])
    leaf = f64(case.tensors["x"]).clone().requires_grad_(True)
    total = sum((o * u).sum() for o, u in zip(run(leaf), ups))
    got = torch.autograd.grad(total, [leaf, *[module.get_parameter(n) for n in names]])
    case.expected_grads = {"arg.0": got[0], **{f"param.{n}": g for n, g in zip(names, got[1:])}}


# ------------------------------------------------------------------------------------------ plot_attention


def plot_cases(m: Draw, dtypes: list[str], devices: list[str]) -> list[Case]:
    cases = []
    for cid, L, S, keys, give_ax in [
        ("self", 6, 6, None, False),
        ("cross", 3, 5, "different", False),
        ("given_ax", 4, 4, None, True),
    ]:
        scores = m.randn(L, S, dtype="float64", scale=2.0)
        w = ref.softmax_with_temperature(scores, 1.0)
        q_tok = TOKENS[:L] if cid != "cross" else ["river", "bank", "flooded"]
        k_tok = None if keys is None else ["the", "river", "bank", "flooded", "today"][:S]
        args = [{"t": "w"}, {"v": q_tok}]
        if k_tok is not None:
            args.append({"v": k_tok})
        label = f"weights ({L}, {S})" + (", key_tokens given" if k_tok else "") + (", ax given" if give_ax else "")
        cases.append(
            Case(
                "plot_attention",
                cid,
                label,
                "plot",
                {"kind": "plot", "args": args, "give_ax": give_ax},
                {"w": w.to(torch.float32)},
                "float32",
                "cpu",
                [w],
                extra={"query_tokens": q_tok, "key_tokens": k_tok or q_tok, "give_ax": give_ax},
            )
        )
    return cases


# ------------------------------------------------------------------------------------- positional_encoding


def pe_cases(m: Draw, dtypes: list[str], devices: list[str]) -> list[Case]:
    """positional_encoding(seq_len, d_model): float32 whatever the course's dtypes, since it takes no tensor."""
    cases = [
        _pe_case(cid, L, d, note)
        for cid, L, d, note in [
            ("v0", 6, 8, ""),
            ("v1", 50, 64, "the lesson's figure"),
            ("v2", 1, 2, "one position, two features"),
            ("v3", 12, 4, "more positions than features"),
            ("v4", 16, 16, "square, so a transpose keeps the shape"),
        ]
    ]
    cases.append(_pe_case("device_cpu", 5, 6, "device = torch.device('cpu')", given="cpu"))
    on_meta = {"kind": "meta_device", "args": [{"v": 5}, {"v": 8}], "kwargs": {"device": {"device": "meta"}}}
    label = "seq_len = 5, d_model = 8, device= a device other than the CPU"
    cases.append(Case("positional_encoding", "meta", label, "meta_device", on_meta, expected=["meta"]))
    for cid, L, d in [("bad_len_0", 0, 8), ("bad_odd_7", 4, 7)]:
        spec = {"kind": "expect_error", "args": [{"v": L}, {"v": d}]}
        label = f"seq_len = {L}, d_model = {d}" + (" (odd)" if d % 2 else "")
        cases.append(Case("positional_encoding", cid, label, "expect_error", spec, expected="ValueError"))
    if "cuda" in devices:
        cases.append(_pe_case("cuda", 7, 8, "on cuda", device="cuda", given="cuda"))
    return cases


def _pe_case(cid: str, L: int, d: int, note: str, device: str = "cpu", given: str | None = None) -> Case:
    """positional_encoding(L, d), with `device=given` passed where given; expected in float64."""
    spec: dict = {"kind": "call", "args": [{"v": L}, {"v": d}]}
    if given is not None:
        spec["kwargs"] = {"device": {"device": given}}
    label = f"seq_len = {L}, d_model = {d}" + (f" ({note})" if note else "")
    extra = {"seq_len": L, "d_model": d}
    return Case("positional_encoding", cid, label, "call", spec, {}, "float32", device, [sinusoids(L, d)], extra=extra)


# -------------------------------------------------------------------------------------- kv_cache_attention

KV_PARAMS = ["W_q.weight", "W_k.weight", "W_v.weight", "W_q.bias", "W_k.bias", "W_v.bias"]


def kv_cases(m: Draw, dtypes: list[str], devices: list[str]) -> list[Case]:
    """KVCacheAttention fed a sequence a few tokens per call ("steps"): the joined outputs must be one causal pass."""
    cases = []
    plan = [
        # (B, d_model, bias, steps, dtype, grad, note)
        (2, 8, True, [3, 1, 1, 1], "float32", False, "a prompt of 3 tokens, then one at a time"),
        (1, 8, True, [1, 1, 1, 1, 1], "float64", True, "one token at a time"),
        (2, 12, False, [2, 2, 3], "float64", False, "calls of 2, 2 and 3 tokens, bias = False"),
        (2, 16, True, [5], "float32", False, "the whole sequence in one call"),
        (2, 8, True, [4, 1, 1], "float16", False, "a prompt of 4, then one at a time"),
        (2, 16, True, [4, 1, 1], "bfloat16", False, "a prompt of 4, then one at a time"),
    ]
    for n, (B, dm, bias, steps, dt, grad, note) in enumerate(plan):
        if dt in dtypes:
            cases.append(_kv_case(m, f"v{n}", B, dm, bias, steps, dt, grad, note))
    if "cuda" in devices:
        cases.append(_kv_case(m, "cuda", 2, 8, True, [3, 1, 1], "float32", False, "on cuda", device="cuda"))
    on_meta = {
        "kind": "meta_device",
        "module": True,
        "init": [8],
        "args": [{"shape": [2, 5, 8], "dtype": "float32"}],
    }
    label = "a prompt of 5 tokens on a device other than the CPU"
    cases.append(Case("kv_cache_attention", "meta", label, "meta_device", on_meta, expected=["meta", "meta"]))
    return cases


def _kv_case(m, cid, B, dm, bias, steps, dt, grad, note, device="cpu") -> Case:
    state = m.linears(KV_PARAMS, dm, dt, bias)
    T = sum(steps)
    x = m.randn(B, T, dm, dtype=dt)
    tensors = {"x": x, **{f"p.{k}": v for k, v in state.items()}}
    spec = {
        "kind": "module",
        "init": [dm, bias],
        "state": {k: f"p.{k}" for k in state},
        "dtype": dt,
        "args": [{"t": "x", "grad": grad}],
        "steps": steps,
        "record_callees": True,
    }
    x64 = f64(x)

    def fresh() -> ref.KVCacheAttention:
        mod = ref.KVCacheAttention(dm, bias=bias).to(torch.float64)
        with torch.no_grad():
            for k, v in state.items():
                mod.get_parameter(k).copy_(f64(v))
        return mod

    def recompute(**callees):
        with torch.no_grad():
            return stepped(fresh(), rebound(ref.KVCacheAttention.forward, callees), x64, steps)

    exp = recompute()
    label = f"B={B}, {T} tokens, d_model={dm} {dt} ({note})"
    extra = {"d_model": dm, "steps": steps, "tokens": T, "state": state, "x": x}
    case = Case(
        "kv_cache_attention", cid, label, "module", spec, tensors, dt, device, exp, recompute=recompute, extra=extra
    )
    if grad:
        mod = fresh()
        _module_grads(m, case, mod, lambda leaf: stepped(mod, ref.KVCacheAttention.forward, leaf, steps))
    return case


def stepped(module, forward: Callable, x: torch.Tensor, steps: list[int]) -> list[torch.Tensor]:
    """[output (B, T, d), weights (B, T, T)]: `forward(module, chunk)` on x's tokens `steps` at a time, as the
    worker joins them (``child.worker``): outputs along the sequence, each call's weights padded on the right."""
    T, start, outs, weights = x.shape[1], 0, [], []
    for n in steps:
        out, w = forward(module, x[:, start : start + n])  # (B, n, d), (B, n, t)
        outs.append(out)
        weights.append(torch.nn.functional.pad(w, (0, T - w.shape[-1])))  # (B, n, T): no weight on unseen keys
        start += n
    return [torch.cat(outs, dim=1), torch.cat(weights, dim=1)]


BUILDERS = {
    "qk_scores": qk_cases,
    "softmax_with_temperature": softmax_cases,
    "causal_mask": mask_cases,
    "attention": attention_cases,
    "multi_head_attention": mha_cases,
    "plot_attention": plot_cases,
    "positional_encoding": pe_cases,
    "kv_cache_attention": kv_cases,
}
