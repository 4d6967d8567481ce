"""The describer: how a student's wrong output relates to the expected one, for slips no rule was written for.

Where a task fails and no rule of ``diagnose.RULES`` names the mistake, the describer looks for the
simplest relation between each wrong output G and the expected output E that explains every failing
case of the task alike, and says it in the case's own words: rows are queries, columns are keys,
positions, features, heads, calls (``TaskSpec.axes``), and a factor is named where it equals a quantity
of the case (sqrt(d), n_heads, T, ...). Each relation is a catalogue id of ``diagnose.CATALOGUE``:

- the reference with one of its knobs turned (``TaskSpec.knobs``), and the outputs in the other order;
- shape: the expected values with extra dimensions of size 1, their dimensions in another order,
  averaged, summed or cut down to one entry along a dimension, or an input's shape; more entries than
  expected along one dimension with the expected ones a stretch of them, or only a stretch (`slice_of`);
- values: a constant factor, a sign, a factor for each row or column (`scaled_along`, named where it is
  the length of an input's vectors), an offset, an input added (a residual), a function of the expected
  values (log, exp, a mask's True and False written as numbers), a softmax taken once more;
- weights (``TaskSpec.distributions``): the expected ones at another temperature, normalised along
  another dimension or over more of them, in proportion but not summing to 1, or with weight where none
  belongs or none where some does;
- an index map along one dimension: shifted by one, reversed, interleaved, in another order; or entries
  written into the wrong ones, over them, the rest left at 0 (`written_elsewhere`);
- where it is right and where it is wrong: a region (a triangle, a window, the hidden cells, the queries
  that may see no key, the odd columns, the later calls), one kind of case (`case_split`), or the
  low-precision dtypes only.

It looks at what is wrong as graded (``CaseResult.tolerance``), but matches relations with a looser
tolerance (`Pair.tol`); an output wrong by less than that (`Pair.subtle`) is looked at only by the
testers in `SUBTLE`, at the grade's precision.
`sharpen` adds to a rule's diagnosis what the describer finds more; `drawn_as` says what a heatmap shows.

Precision comes before recall: a relation is named only where it holds on every failing case that can
test it, with the same parameters, and never on noise or an unrelated tensor (tests/unit/test_describe.py
pins each with a control). A wrong name is worse than none; then the judge says how many values are off.

May import torch, ``attnlab.tasks``, the cases' helpers and the diagnosis catalogue; the answers only through
``diagnose.model_output`` (the knob models), and nothing of the child zone.

The judge never lets a description cost a grade: an exception in here leaves the task's diagnoses as they
were, unless ``ATTNLAB_STRICT_DESCRIBE`` is set (the test suite sets it, so that a crash fails a test).
``ATTNLAB_DEBUG_DESCRIBE`` prints every tester's verdicts on stderr.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..tasks import TASKS
from .case import call_spans
from .diagnose import Diagnosis, model_output
from .tolerance import close, loose_tolerance, within

#: The describer's catalogue ids: they stand in for the judge's "N values are off" (wrong_values), and the
#: shape relations for wrong_shape.
IDS = (
    "knob",
    "outputs_swapped",
    "extra_dims",
    "dims_reordered",
    "reduced_dim",
    "input_shape",
    "slice_of",
    "precision_only",
    "index_map",
    "written_elsewhere",
    "scaled_values",
    "scaled_along",
    "offset_values",
    "input_added",
    "elementwise_map",
    "mask_as_numbers",
    "softmax_again",
    "other_temperature",
    "normalised_elsewhere",
    "rows_rescaled",
    "rows_off_sum",
    "weight_where_none",
    "no_weight_where_some",
    "region_split",
    "case_split",
)

LOW_PRECISION = ("float16", "bfloat16")


@dataclass
class Pair:
    """One wrong output of one case: the student's G and the expected E, both float64."""

    r: object  # the judge's CaseResult
    i: int  # which output
    G: torch.Tensor
    E: torch.Tensor
    boolean: bool  # the expected output is a mask

    @property
    def case(self):
        return self.r.case

    @property
    def tol(self) -> tuple[float, float]:
        return loose_tolerance(self.case.dtype)

    @property
    def which(self) -> str:
        return TASKS[self.case.task].output_name(self.i)

    @property
    def graded(self) -> tuple[float, float]:
        """The (atol, rtol) the case was graded with, tighter than `tol` in float64: the one that tells whether an
        output is wrong at all. Where the case's callees were replayed, the replay's."""
        mine = getattr(self.r, "tolerance", None)
        return self.tol if mine is None or getattr(self.r, "reference", None) is not None else mine

    @functools.cached_property
    def subtle(self) -> bool:
        """Wrong as graded, but within the describer's loose tolerance (1e-6 off in float64): only the testers in
        `SUBTLE` look closer than that."""
        return self.G.shape == self.E.shape and self.near(self.G, self.E)

    def near(self, a: torch.Tensor, b: torch.Tensor, scale: float = 1.0) -> bool:
        atol, rtol = self.tol
        return close(a, b, atol * max(1.0, scale), rtol)

    def along(self, a: int) -> str:
        """How a sentence names dimension `a` as a whole: "the keys", or "dim 1" where it has no name."""
        word = self.axis(a, True)
        if word.startswith("dim "):
            given = self.case.extra.get("dim")
            return f"dim {given}" if a == self.norm_dim and isinstance(given, int) else f"dim {a - self.E.dim()}"
        return f"the {word}"

    def axis(self, a: int, plural: bool = False) -> str:
        """The name of dimension `a` of E: "query", "keys", "batch item", "dim 0"."""
        return axis_name(self.case.task, self.i, self.E.dim(), a, plural)

    @property
    def norm_dim(self) -> int | None:
        """The dimension along which E sums to 1, where E is weights; None otherwise."""
        spec = TASKS[self.case.task]
        if self.which not in spec.distributions or self.E.dim() == 0:
            return None
        return self.case.extra.get("dim", -1) % self.E.dim()


def axis_name(task: str, i: int, ndim: int, a: int, plural: bool = False) -> str:
    names = TASKS[task].axes[i] if i < len(TASKS[task].axes) else ()
    k = a - (ndim - len(names))
    if k >= 0:
        word = names[k]
    elif names:
        word = "batch item"
    else:
        return f"dim {a}"
    return _plural(word) if plural else word


def _plural(word: str) -> str:
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


@dataclass
class Found:
    """A relation on one case. `key` must agree across the failing cases; `names` (the quantities a
    number of it equals) are intersected across them, and the simplest left fills ``details["named"]``."""

    id: str
    details: dict
    key: tuple = ()
    names: tuple[str, ...] | None = None
    value: float = 0.0
    #: For a region: the log-probability that its wrong values fell inside it by chance (k log f).
    evidence: float = 0.0


#: A tester's answer where the case cannot tell (an expected output that does not vary, say).
UNTESTABLE = "untestable"

Tester = Callable[[Pair], "Found | str | None"]


# ------------------------------------------------------------------------------------------ quantities


def quantities(case) -> dict[str, float]:
    """The case's numbers a factor may be named after, by the names the lessons use."""
    out: dict[str, float] = {}
    t, ex = case.tensors, case.extra
    q, k = t.get("q"), t.get("k")
    if isinstance(q, torch.Tensor) and q.dim() >= 2:
        out["d"] = q.shape[-1]
        out["L"] = q.shape[-2]
    if isinstance(k, torch.Tensor) and k.dim() >= 2:
        out["S"] = k.shape[-2]
    v = t.get("v")
    if isinstance(v, torch.Tensor) and v.dim() >= 2:
        out["dv"] = v.shape[-1]
    if "d_model" in ex:
        out["d_model"] = ex["d_model"]
        if ex.get("H"):
            out["n_heads"] = ex["H"]
            out["d_head"] = ex["d_model"] // ex["H"]
    for key, name in (("T", "T"), ("n", "seq_len"), ("seq_len", "seq_len")):
        v = ex.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[name] = v
    return {n: float(v) for n, v in out.items() if v > 0}


def _forms(qs: dict[str, float]) -> list[tuple[str, float, int]]:
    """Expressions of the quantities with their rank (simplest 0): d; 1/d; sqrt(d); 1/sqrt(d); 2*sqrt(d), d/2;
    sqrt(d/S), d/S; and last the bare numbers 2 and 1/2."""
    out: list[tuple[str, float, int]] = []
    ranks = [
        lambda n, v: (n, v),
        lambda n, v: (f"1/{n}", 1 / v),
        lambda n, v: (f"sqrt({n})", math.sqrt(v)),
        lambda n, v: (f"1/sqrt({n})", 1 / math.sqrt(v)),
    ]
    for rank, form in enumerate(ranks):
        out += [(*form(n, v), rank) for n, v in qs.items()]
    singles = [(e, v) for e, v, _ in out]
    out += [(f"2*{e}" if not e.startswith("1/") else f"2/{e[2:]}", 2 * v, 4) for e, v in singles]
    out += [(f"{e}/2", v / 2, 4) for e, v in singles if not e.startswith("1/")]
    for (a, va), (b, vb) in itertools.permutations(qs.items(), 2):
        out += [(f"sqrt({a}/{b})", math.sqrt(va / vb), 5), (f"{a}/{b}", va / vb, 5)]
    out = [f for f in out if abs(f[1] - 1) > 1e-9]  # d = 1 names nothing by itself, only in d/S
    return out + [("2", 2.0, 6), ("1/2", 0.5, 6)]


def name_number(x: float, case) -> tuple[tuple[str, int], ...]:
    """The expressions of `case`'s quantities that equal `x` within 0.5 %, with their rank, simplest first."""
    if not math.isfinite(x) or x == 0:
        return ()
    found = [(e, rank) for e, v, rank in _forms(quantities(case)) if abs(x - v) <= 5e-3 * abs(v)]
    return tuple(sorted(found, key=lambda f: f[1]))


def _one_name(common: list[tuple[str, int]]) -> str:
    """The simplest name where it is the only one of its rank; '' where two names are as simple (n_heads = d_head
    = 4 on a case): then the number is not named at all."""
    if not common:
        return ""
    best = common[0][1]
    tied = [e for e, rank in common if rank == best]
    return tied[0] if len(tied) == 1 else ""


# ------------------------------------------------------------------------------------------- the task


def describe(task_id: str, results: list) -> Diagnosis | None:
    """The one relation that explains every failing value case of the task, as a Diagnosis; None if none does."""
    spec = TASKS[task_id]
    failing = [r for r in results if _describable(r)]
    pairs_by_output: dict[int, list[Pair]] = {}
    for r in failing:
        for p in _wrong_outputs(r):
            pairs_by_output.setdefault(p.i, []).append(p)
    if not pairs_by_output:
        return _by_feature(task_id, results)
    cases = {id(r) for r in failing if any(p.r is r for ps in pairs_by_output.values() for p in ps)}
    found = _swapped_outputs(failing)
    if found is not None:
        return _on_cases(found, failing)
    found = _by_precision(task_id, results, failing)
    if found is not None:
        return found
    order = sorted(pairs_by_output, key=lambda i: spec.output_name(i) not in spec.distributions)
    for i in order:
        pairs = pairs_by_output[i]
        if {id(p.r) for p in pairs} != cases:
            continue  # this output is right on some case that fails: it cannot explain the failure
        for tester in _testers(spec, i):
            verdicts = []
            for p in pairs:  # a case that contradicts it ends the trial: the rest need not be computed
                verdicts.append(UNTESTABLE if p.subtle and tester not in SUBTLE else tester(p))
                if verdicts[-1] is None:
                    break
            if _DEBUG:
                name = getattr(tester, "__name__", tester)
                print(f"describe {task_id} output {i} {name}: {verdicts}", file=sys.stderr)
            d = _agree_keys(verdicts) if any(isinstance(v, dict) for v in verdicts) else _agree(verdicts)
            if d is not None:  # said of a case it holds on first: a case too small to show it says little
                shown = [p.r for p, v in zip(pairs, verdicts) if _holds(v, d)]
                return _on_cases(d, shown + [p.r for p in pairs if all(p.r is not r for r in shown)])
    return _by_feature(task_id, results)


def _holds(verdict, d: Diagnosis) -> bool:
    """Whether a tester's verdict on one case found the relation `d` (not merely could not tell)."""
    if isinstance(verdict, Found):
        return verdict.id == d.id
    if isinstance(verdict, dict):
        return any(isinstance(f, Found) and f.id == d.id for f in verdict.values())
    return False


def _on_cases(d: Diagnosis, cases: list) -> Diagnosis:
    """`d` said of the failing cases it holds on: the first by its label, the others counted."""
    more = len({id(r) for r in cases}) - 1
    also = f" and {more} more failing case{'s' if more > 1 else ''}" if more else ""
    return Diagnosis(d.id, f"on {cases[0].case.label}{also}, {d.message}")


_DEBUG = bool(os.environ.get("ATTNLAB_DEBUG_DESCRIBE"))


def _describable(r) -> bool:
    return (
        not r.passed
        and r.case.kind in ("call", "module")
        and not (r.inherited or r.blocked_by or r.pending or r.skipped)
        and bool(r.got)
        and isinstance(r.case.expected, list)
        and not r.constant
    )


def _expected(r) -> list:
    """What the student's outputs should have been: the reference's, or where the case's callees were replayed,
    the reference's with the student's callees (``CaseResult.reference``), if that has the contract's shapes."""
    replayed = getattr(r, "reference", None)
    if replayed is None:
        return r.case.expected
    if len(replayed) != len(r.case.expected) or any(
        tuple(a.shape) != tuple(b.shape) for a, b in zip(replayed, r.case.expected)
    ):
        return []  # a replay through a callee that returned the wrong shapes: nothing sure to compare with
    return replayed


def _wrong_outputs(r) -> list[Pair]:
    out = []
    for i, (g, e) in enumerate(zip(r.got, _expected(r))):
        if g is None or not isinstance(e, torch.Tensor):
            continue
        p = Pair(r, i, g, e.to(torch.float64), e.dtype == torch.bool)
        if g.shape == e.shape and close(g, p.E, *p.graded):
            continue  # right, as graded: a relation is looked for on what is wrong by the grade's measure
        out.append(p)
    return out


def _agree_keys(verdicts: list) -> Diagnosis | None:
    """For testers that try several keys on each case ({key: Found or None}, keys a case cannot test left out):
    the first key that holds on some case and fails on none."""
    found = [(k, f) for v in verdicts if isinstance(v, dict) for k, f in v.items() if isinstance(f, Found)]
    size = {}
    for k, f in found:  # the smallest region that holds is the most specific
        size[k] = min(size.get(k, math.inf), f.value)
    for key in sorted(size, key=lambda k: size[k]):
        if all(v is UNTESTABLE or (isinstance(v, dict) and v.get(key, UNTESTABLE) is not None) for v in verdicts):
            held = [v[key] for v in verdicts if isinstance(v, dict) and v.get(key) is not None]
            if held and held[0].id == "region_split" and (len(held) < 2 or sum(f.evidence for f in held) > CHANCE):
                continue  # seen on one case only, or so few wrong values that they could fall there by chance
            if len(key) == 3 and key[1] == "moved" and (len(held) < 2 or _order_missed(key, verdicts)):
                continue  # an order seen on one case, or not seen on a case long enough to show it
            d = _agree([v.get(key, UNTESTABLE) if isinstance(v, dict) else UNTESTABLE for v in verdicts])
            if d is not None:
                return d
    return None


#: A region is named only where its wrong values falling inside it by chance has a log-probability below this
#: (about 1 in 1000): k wrong values in a region of share f have probability f ** k if placed at random.
CHANCE = math.log(1e-2)


def _order_missed(key: tuple, verdicts: list) -> bool:
    """Whether a case tested the dimension of an order ("moved" entries), was long enough to show it, and did not."""
    axis, _, moved = key
    longest = max(max(i, m) for i, m in moved)
    return any(
        isinstance(v, dict)
        and isinstance(v.get(("tested", axis)), int)
        and v[("tested", axis)] > longest
        and key not in v
        for v in verdicts
    )


def _agree(founds: list) -> Diagnosis | None:
    tested = [f for f in founds if f is not UNTESTABLE]
    if not tested or any(f is None for f in tested):
        return None
    if len({f.key for f in tested}) > 1:
        return None
    head = tested[0]
    details = dict(head.details)
    if head.names is not None:
        common = [n for n in head.names if all(n in f.names for f in tested)]
        details["named"] = _one_name(common)
        if not common and len({round(f.value, 3) for f in tested}) > 1:
            return None  # an unnamed number that differs from case to case explains nothing
    plural = details.get("which") in PLURAL
    details.update({"is": "are" if plural else "is", "has": "have" if plural else "has"})
    details["holds"] = "hold" if plural else "holds"
    details["its"] = "their" if plural else "its"
    return Diagnosis.make(head.id, **_words(head.id, details))


#: Outputs named in the plural: "your weights are", "your mask is".
PLURAL = {"scores", "weights"}


def _testers(spec, i: int) -> list[Tester]:
    knobs = [k for k in spec.knobs if k.output == i]
    out: list[Tester] = [(lambda p, k=k: _knob(p, k)) for k in knobs]
    out += [
        _extra_dims,
        _dims_reordered,
        _reduced_dim,
        _input_shape,
        _slice_of,
        _index_map,
        _written_elsewhere,
        _scaled,
        _scaled_along,
        _offset,
        _input_added,
        _elementwise,
        _mask_as_numbers,
    ]
    out += [_softmax_again]
    if spec.output_name(i) in spec.distributions:
        out += [_other_temperature, _normalised_elsewhere, _rows_rescaled, _support_changed]
    out += [_region_split]
    return out


# ------------------------------------------------------------------------------------ case-level relations


def _swapped_outputs(failing: list) -> Diagnosis | None:
    """Every failing case returned its outputs in another order."""
    if not failing or any(len(r.got) < 2 for r in failing):
        return None
    perm = None
    for r in failing:
        exp = [e.to(torch.float64) for e in _expected(r)]
        fits = []
        for order in itertools.permutations(range(len(exp))):
            if order != tuple(range(len(exp))) and all(
                g is not None and close(g, exp[j], *loose_tolerance(r.case.dtype)) for g, j in zip(r.got, order)
            ):
                fits.append(order)
        if len(fits) != 1 or (perm is not None and fits[0] != perm):
            return None
        perm = fits[0]
    spec = TASKS[failing[0].case.task]
    got = ", ".join(spec.output_name(j) for j in perm)
    want = ", ".join(spec.output_name(j) for j in range(len(perm)))
    return Diagnosis.make("outputs_swapped", got=got, want=want)


def _by_precision(task_id: str, results: list, failing: list) -> Diagnosis | None:
    """Right on every float32 and float64 case, wrong only on float16 or bfloat16 ones."""
    valued = [r for r in results if r.case.kind in ("call", "module") and not (r.pending or r.skipped)]
    if not failing or any(r.case.dtype not in LOW_PRECISION for r in failing):
        return None
    high = [r for r in valued if r.case.dtype not in LOW_PRECISION]
    if not high or not all(r.passed or r.values_ok for r in high):
        return None
    low = [r for r in valued if r.case.dtype in LOW_PRECISION]
    if len(low) < 2 or any(r.passed or _wrong_share(r) < SUBSTANTIAL for r in low):
        return None  # every low-precision case wrong, and clearly: not a few values astray here and there
    good = " and ".join(sorted({r.case.dtype for r in high}))
    bad = " and ".join(sorted({r.case.dtype for r in failing}))
    return Diagnosis.make("precision_only", good=good, bad=bad)


def _by_feature(task_id: str, results: list) -> Diagnosis | None:
    """Right on every case with one feature, wrong (or raising) on every case without it: the inputs' number of
    dimensions, whether dim is the last one, the temperature 1, a mask, one head, one call, one batch item.
    Named only where exactly one feature tells the failing cases from the passing ones."""
    judged = [
        r
        for r in results
        if r.case.kind in ("call", "module") and not (r.pending or r.skipped or r.inherited or r.blocked_by)
    ]
    bad = [r for r in judged if not r.passed and r.meta.get("status") in ("ok", "error")]
    good = [r for r in judged if r.passed]
    if not bad or not good or len(bad) + len(good) < 4 or len(bad) + len(good) < len(judged):
        return None
    if any(_wrong_share(r) < SUBSTANTIAL for r in bad):
        return None  # a case wrong on a few values only: the split could be chance
    feats = [features(r.case) for r in judged]
    names = set.intersection(*(set(f) for f in feats))
    splits = {}
    for name in [n for n in feats[0] if n in names]:  # in the order of the contract's arguments
        theirs = {features(r.case)[name] for r in bad}
        ours = {features(r.case)[name] for r in good}
        if not theirs & ours:
            splits.setdefault(name.split(":")[0], []).append((name, ours, theirs))
    raised_all = all(r.meta.get("status") == "error" for r in bad)
    about_dtype = raised_all and all(_names_dtype(r) for r in bad)
    if "dtype" in splits and len(splits) > 1 and raised_all:
        # code that raises on some dtypes raises about the dtype (c10::Half, "expected scalar type Float"): where
        # no error says one, the dtype only happens to go with the feature that matters, and the other way round
        if about_dtype:
            splits = {"dtype": splits["dtype"]}
        elif not any(_names_dtype(r) for r in bad):
            del splits["dtype"]
    if len(splits) != 1 or ("dtype" in splits and not about_dtype):
        return None  # none, or several features that tell them apart (which one matters is not sure), or the dtype
        # of wrong values: wrong_dtype and precision_only say that better
    ((name, ours, theirs), *more), *_ = splits.values()
    if any((o, t) != (ours, theirs) for _, o, t in more):
        return None  # q with 3 dimensions and k with 2, say: no one statement
    right, wrong = _feature_words(name, ours, more), _feature_words(name, theirs, more)
    raised = [r for r in bad if r.meta.get("status") == "error"]
    how = "wrong" if not raised else "raises an error" if len(raised) == len(bad) else "wrong or raises an error"
    function = TASKS[task_id].function
    return Diagnosis.make("case_split", function=function, right=right, wrong=wrong, how=how)


#: How torch and numpy name a dtype in an error: "c10::Half", "expected scalar type Float but found Double".
DTYPE_WORDS = re.compile(r"half|bfloat16|float16|float32|float64|double|scalar type|dtype", re.IGNORECASE)


def _names_dtype(r) -> bool:
    """Whether the error a case raised names a dtype."""
    error = r.meta.get("error") or {}
    return bool(DTYPE_WORDS.search(f"{error.get('type', '')}: {error.get('msg', '')}"))


#: The share of a case's values that must be wrong (or the case raise) for it to count as wrong "on every case".
SUBSTANTIAL = 0.25


def _wrong_share(r) -> float:
    """The largest share of wrong values among the case's outputs; 1 where it raised or an output has the wrong
    shape, 0 where it passed."""
    if r.passed:
        return 0.0
    if r.meta.get("status") == "error" or not r.got:
        return 1.0
    share = 0.0
    for p in _wrong_outputs(r):
        if p.G.shape != p.E.shape:
            return 1.0
        share = max(share, float((~within(p.G, p.E, *p.tol)).to(torch.float64).mean()))
    return share


def features(case) -> dict[str, object]:
    """What tells one case of a task from another, by name: 'rank:q' -> 3, 'dim' -> 'last', 'heads' -> 1."""
    spec = TASKS[case.task]
    out: dict[str, object] = {}
    args = case.spec.get("args", [])
    for j, a in enumerate(args):
        t = case.tensors.get(a.get("t", "")) if isinstance(a, dict) else None
        if isinstance(t, torch.Tensor) and t.dtype != torch.bool:
            out[f"rank:{spec.arg_name(j)}"] = t.dim()
    ex = case.extra
    out["dtype"] = case.dtype  # so that a split that is really the dtype's is not put down to another feature
    q, k = case.tensors.get("q"), case.tensors.get("k")
    if isinstance(q, torch.Tensor) and isinstance(k, torch.Tensor) and q.dim() >= 2 and k.dim() >= 2:
        out["square"] = q.shape[-2] == k.shape[-2]
        out["one query"] = q.shape[-2] == 1
    if isinstance(ex.get("dim"), int) and "x" in case.tensors:
        out["dim"] = "last" if ex["dim"] % case.tensors["x"].dim() == case.tensors["x"].dim() - 1 else "other"
    if isinstance(ex.get("T"), (int, float)):
        out["temperature"] = ex["T"] == 1
    if "mask" in ex:
        out["mask"] = ex["mask"] is not None
    if isinstance(ex.get("H"), int):
        out["heads"] = ex["H"] == 1
    if isinstance(ex.get("steps"), list):
        out["calls"] = len(ex["steps"]) == 1
    if isinstance(ex.get("causal"), bool):
        out["causal"] = ex["causal"]
    x = ex.get("x")
    if isinstance(x, torch.Tensor) and x.dim() == 3:
        out["batch"] = x.shape[0] == 1
    return out


def _feature_words(name: str, values: set, more: list = ()) -> str:
    kind, _, arg = name.partition(":")
    if kind == "rank":
        shown = " or ".join(str(v) for v in sorted(values))
        args = [arg] + [n.partition(":")[2] for n, _, _ in more]
        return f"{' and '.join(args)} {'have' if len(args) > 1 else 'has'} {shown} dimensions"
    if kind == "dtype":
        return f"the inputs are {' or '.join(sorted(values))}"
    (v,) = values if len(values) == 1 else (None,)
    words = {
        "square": {True: "there are as many keys as queries", False: "there are not as many keys as queries"},
        "one query": {True: "there is one query", False: "there are several queries"},
        "dim": {"last": "dim is the last dimension", "other": "dim is another dimension than the last"},
        "temperature": {True: "the temperature is 1", False: "the temperature is not 1"},
        "mask": {True: "a mask is given", False: "no mask is given"},
        "heads": {True: "n_heads is 1", False: "n_heads is more than 1"},
        "calls": {True: "the tokens come in one call", False: "the tokens come in several calls"},
        "causal": {True: "causal=True", False: "causal=False"},
        "batch": {True: "the batch holds one sequence", False: "the batch holds several sequences"},
    }
    return words[kind][v]


def sharpen(task_id: str, results: list, diagnosis: Diagnosis) -> Diagnosis:
    """A rule's diagnosis with what the describer finds more: wrong_scale's factor named by a quantity of the case
    ("1.41 = sqrt(d/L)") where one name fits every failing case."""
    if diagnosis.id != "wrong_scale":
        return diagnosis
    pairs = [p for r in results if _describable(r) for p in _wrong_outputs(r) if p.i == 0]
    found = [_scaled(p) for p in pairs]
    tested = [f for f in found if isinstance(f, Found)]
    if not tested or len(tested) != len([f for f in found if f is not UNTESTABLE]):
        return diagnosis
    common = [n for n in tested[0].names or () if all(n in (f.names or ()) for f in tested)]
    named = _one_name(common)
    if not named or named in ("sqrt(d)", "1/sqrt(d)"):  # the rule's own words say those
        return diagnosis
    f = tested[0].value
    return Diagnosis(diagnosis.id, f"{diagnosis.message.rstrip('.')}; here {f:.3g} = {named}: {_cause(named)}.")


# ------------------------------------------------------------------------------------------- the testers


def _knob(p: Pair, knob) -> Found | str | None:
    """The reference with one of its knobs turned gives exactly G."""
    for value, words in knob.choices:
        try:
            model = model_output(f"knob:{knob.name}={value}", p.case)
        except KeyError:  # the knob does not fit this case (answers.knobs.applicable)
            continue
        if model is None:
            continue
        if model.shape == p.E.shape and p.near(model.to(torch.float64), p.E):
            continue  # on this case the knob changes nothing
        if model.shape == p.G.shape and (
            torch.equal(p.G != 0, model) if model.dtype == torch.bool else p.near(p.G, model.to(torch.float64))
        ):
            return Found("knob", {"words": words}, key=(knob.name, value))
    return None


def _extra_dims(p: Pair) -> Found | str | None:
    """G is E with dimensions of size 1 added or taken away."""
    G, E = p.G, p.E
    if G.dim() == E.dim() or G.numel() != E.numel():
        return None
    if [s for s in G.shape if s != 1] != [s for s in E.shape if s != 1] or not p.near(G.reshape(E.shape), E):
        return None
    n = G.dim() - E.dim()
    how = f"with {n} extra dimension{'s' if n > 1 else ''} of size 1" if n > 0 else "without its dimensions of size 1"
    return Found("extra_dims", {"which": p.which, "got": tuple(G.shape), "want": tuple(E.shape), "how": how})


def _input_shape(p: Pair) -> Found | str | None:
    """G has the shape of one of the inputs, where the output's differs: it was built from the wrong tensor."""
    G, E = p.G, p.E
    inputs = [t for t in p.case.tensors.values() if isinstance(t, torch.Tensor)]
    if G.shape == E.shape:  # an input of the output's shape: this case cannot tell
        return UNTESTABLE if any(t.shape == E.shape for t in inputs) else None
    spec = TASKS[p.case.task]
    names = [
        spec.arg_name(j)
        for j, a in enumerate(p.case.spec.get("args", []))
        if isinstance(a, dict)
        and isinstance(t := p.case.tensors.get(a.get("t", "")), torch.Tensor)
        and t.shape == G.shape
    ]
    if len(names) != 1:
        return UNTESTABLE if names else None  # q and k of one shape: which one it came from cannot be told
    details = {"which": p.which, "got": tuple(G.shape), "want": tuple(E.shape), "arg": names[0]}
    return Found("input_shape", details, key=(names[0],))


def _slice_of(p: Pair) -> Found | str | None:
    """G and E differ in length along one dimension only, and the shorter is one stretch of the longer: G holds the
    expected entries and more (a buffer not cut to length, the earlier calls' rows too), or only some of them."""
    G, E = p.G, p.E
    if G.dim() != E.dim() or G.shape == E.shape or (p.boolean and not _zero_one(G)):
        return None
    differ = [a for a in range(E.dim()) if G.shape[a] != E.shape[a]]
    if len(differ) > 1:
        return _slice_of_several(p, differ)
    (a,) = differ
    big, small = (G, E) if G.shape[a] > E.shape[a] else (E, G)
    N, n = big.shape[a], small.shape[a]
    if small.numel() == 0:
        return UNTESTABLE  # nothing is a stretch of anything
    head = _flat(small, a)[:1]  # a stretch starts where its first entry does: try those starts alone
    starts = (_gaps(_flat(big, a), head)[:, 0] <= _allowed(p, head)).nonzero().flatten().tolist()
    fits = [o for o in starts if o <= N - n and p.near(big.narrow(a, o, n), small)]
    if len(fits) != 1 or not _varies_along(big, a, p):
        return None  # no stretch, or several (entries that repeat): which one it is cannot be told
    (o,) = fits
    if E.shape[a] < 2:
        return UNTESTABLE  # one expected entry: "its first 1" says little
    where = "first" if o == 0 else "last" if o == N - n else f"{o} to {o + n - 1}"
    one, many = p.axis(a), p.axis(a, True)
    plural = p.which in PLURAL
    have, its = ("have", "their") if plural else ("has", "its")
    if big is G:
        how = (
            f"your {p.which} {have} {N} {many} where {n} belong; {its} {where} {n} are the expected ones, and the "
            f"other {N - n} do not belong there"
        ) + (" (cut it to length)" if where == "first" else "")
    elif n == 1:
        how = f"your {p.which} {have} only one {one} of the {N}: the expected {where} one"
    else:
        how = f"your {p.which} {have} only {n} of the {N} {many}: the expected {where} {n}"
    details = {"which": p.which, "got": tuple(G.shape), "want": tuple(E.shape), "how": how}
    return Found("slice_of", details, key=(a - E.dim(), big is G, where if where in ("first", "last") else "middle"))


def _slice_of_several(p: Pair, differ: list[int]) -> Found | str | None:
    """`_slice_of` along several dimensions at once, all shorter or all longer than expected: a block of the
    longer (a mask built one short each way), said by its sizes; where it sits is not said, since a causal
    mask's blocks along its diagonal are alike."""
    G, E = p.G, p.E
    shorter = [G.shape[a] < E.shape[a] for a in differ]
    if len(set(shorter)) != 1:
        return None
    big, small = (E, G) if shorter[0] else (G, E)
    if small.numel() == 0:
        return UNTESTABLE  # nothing is a block of anything
    starts = [range(big.shape[a] - small.shape[a] + 1) for a in differ]
    if math.prod(len(r) for r in starts) > 64:
        return None
    for offsets in itertools.product(*starts):
        block = big
        for a, o in zip(differ, offsets):
            block = block.narrow(a, o, small.shape[a])
        if p.near(block, small):
            break
    else:
        return None
    names = " × ".join(p.axis(a, True) for a in differ)
    got = " × ".join(str(G.shape[a]) for a in differ)
    want = " × ".join(str(E.shape[a]) for a in differ)
    have = "have" if p.which in PLURAL else "has"
    what = "a block of the expected ones" if shorter[0] else "the expected ones, and more around them"
    how = f"your {p.which} {have} {got} entries ({names}) where {want} belong, and they are {what}"
    details = {"which": p.which, "got": tuple(G.shape), "want": tuple(E.shape), "how": how}
    return Found("slice_of", details, key=(tuple(a - E.dim() for a in differ), not shorter[0], "block"))


def _zero_one(t: torch.Tensor) -> bool:
    return bool(((t == 0) | (t == 1)).all())


def _varies_along(t: torch.Tensor, a: int, p: Pair) -> bool:
    """Whether t's slices along `a` are not all alike (a stretch of them could be told from another)."""
    first = t.narrow(a, 0, 1).expand_as(t)
    return not p.near(t.to(torch.float64), first.to(torch.float64))


def _written_elsewhere(p: Pair) -> dict | None:
    """Along one dimension, each of G's entries is one of E's, or zero where E's is not, and some are moved:
    values written into the wrong slices (the cosines into the sines' columns, overwriting them), the rest left
    at 0. Keyed by (dimension, the shift, the zeroed entries' name), so that cases of other lengths agree."""
    G, E = p.G, p.E
    if G.shape != E.shape or p.boolean or E.dim() == 0:
        return None
    out: dict = {}
    if all(n < 3 for n in E.shape):
        return out  # too short along every dimension to show it
    for a in range(E.dim()):
        n = E.shape[a]
        if n < 3:
            continue
        src = _slice_sources(p, a)
        if src is None:
            continue
        zero = [k for k, m in enumerate(src) if m == -1]
        moved = [(k, m) for k, m in enumerate(src) if m not in (-1, k)]
        if not zero or not moved:
            continue  # nothing zeroed (index_map), or nothing moved (region_split says where it is wrong)
        shifts = {m - k for k, m in moved}
        named = _set_name(zero, n)
        if len(shifts) != 1 or named is None:
            continue
        (s,) = shifts
        one, many = p.axis(a), p.axis(a, True)
        movers = _set_name([k for k, _ in moved], n)
        sign = "+" if s > 0 else "-"
        what = f"your {many} {movers[1]}" if movers else f"some of your {many}"
        how = (
            f"{what} hold what belongs {abs(s)} further {'on' if s > 0 else 'back'} (your {one} i holds the "
            f"expected {one} i {sign} {abs(s)}), and your {many} {named[1]} are all zero: were values written into "
            f"the wrong {many}, over others?"
        )
        key = (a - E.dim(), s, named[0])
        out[key] = Found("written_elsewhere", {"which": p.which, "how": how}, key=key)
    return out or None  # a case long enough that does not show it vetoes it


def _slice_sources(p: Pair, a: int) -> list[int] | None:
    """For each of G's entries along `a`: the one entry of E it equals (its index), or -1 where it is all zero
    and E's is not; None if an entry is neither."""
    G, E, n = p.G, p.E, p.E.shape[a]
    g, e = _flat(G, a), _flat(E, a)
    best = _gaps(g, e).argmin(1).tolist()  # entries alike within the tolerance (slow waves): the closest
    out = []
    for k in range(n):
        if bool((g[k] == 0).all()) and not p.near(e[k], torch.zeros_like(e[k])):
            out.append(-1)
        elif p.near(g[k], e[best[k]]):
            out.append(best[k])
        else:
            return None
    return out


def _flat(t: torch.Tensor, a: int) -> torch.Tensor:
    """t's entries along `a` as rows, (n, rest), float64, NaN and inf as huge numbers (to compare by distance)."""
    rows = t.to(torch.float64).movedim(a, 0).reshape(t.shape[a], -1)
    return rows.nan_to_num(nan=1e300, posinf=1e300, neginf=-1e300)


def _gaps(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(n, m): the largest difference between each row of x and each row of y (`_flat`'s), all at once."""
    return torch.cdist(x.unsqueeze(0), y.unsqueeze(0), p=math.inf)[0]


def _allowed(p: Pair, y: torch.Tensor) -> torch.Tensor:
    """(m,): the largest difference `p.near` allows against each row of y: a pair further apart than that is not
    near, and need not be compared entry by entry."""
    return p.tol[0] + p.tol[1] * y.abs().amax(1)


def _set_name(idx: list[int], n: int) -> tuple[str, str] | None:
    """A short name for a set of entries of n, said as a key and in words: the odd ones, the last, 3 and after."""
    if idx == list(range(1, n, 2)):
        return "odd", "1, 3, 5, ... (the odd ones)"
    if idx == list(range(0, n, 2)):
        return "even", "0, 2, 4, ... (the even ones)"
    if idx == [n - 1]:
        return "last", f"{n - 1} (the last)"
    if idx == [0]:
        return "first", "0"
    if idx == list(range(idx[0], n)):
        return f"from {idx[0]}", f"{idx[0]} and after"
    return None


def _input_added(p: Pair) -> Found | str | None:
    """G = E + one of the inputs: a residual connection added inside the function."""
    G, E = p.G, p.E
    if G.shape != E.shape or p.boolean:
        return None
    spec = TASKS[p.case.task]
    for j, a in enumerate(p.case.spec.get("args", [])):
        t = p.case.tensors.get(a.get("t", "")) if isinstance(a, dict) else None
        if isinstance(t, torch.Tensor) and t.shape == G.shape and t.is_floating_point():
            x = t.to(torch.float64)
            if float(x.abs().max()) > 10 * p.tol[0] and p.near(G, E + x, float(x.abs().max())):
                details = {"which": p.which, "arg": spec.arg_name(j), "function": spec.function}
                return Found("input_added", details, key=(spec.arg_name(j),))
    return None


def _dims_reordered(p: Pair) -> Found | str | None:
    """G is E with its dimensions in another order."""
    G, E = p.G, p.E
    if G.dim() != E.dim() or G.dim() < 2 or sorted(G.shape) != sorted(E.shape):
        return None
    best = None
    for perm in itertools.permutations(range(E.dim())):
        if perm == tuple(range(E.dim())) or tuple(E.shape[j] for j in perm) != tuple(G.shape):
            continue
        moved = E.permute(perm)
        if G.shape == E.shape and p.near(moved, E):
            continue  # symmetric along these dimensions: the order cannot be told
        if p.near(G, moved) and (best is None or _moved(perm) < _moved(best)):
            best = perm
    if best is None:
        return None
    n = E.dim()
    got = ", ".join(p.axis(j) for j in best)
    want = ", ".join(p.axis(j) for j in range(n))
    fix = ""
    if _moved(best) == 2:
        a, b = [j for j in range(n) if best[j] != j]
        fix = f": swap the {p.axis(a, True)} and the {p.axis(b, True)} back (.transpose({a - n}, {b - n}))"
    if got == want:  # two dimensions with one name (queries and keys of a mask are both positions)
        got, want = f"{got} (swapped)", want
    key = tuple(j - n for j in best)
    return Found("dims_reordered", {"which": p.which, "got": got, "want": want, "fix": fix}, key=key)


def _moved(perm) -> int:
    return sum(1 for j, k in enumerate(perm) if j != k)


def _reduced_dim(p: Pair) -> Found | str | None:
    """G is E averaged or summed over one dimension, E's first or last entry along it, or the diagonal of E's last
    two dimensions (each query's score for the key at its own position only)."""
    G, E = p.G, p.E
    if G.dim() != E.dim() - 1:
        return None
    if E.dim() >= 2 and E.shape[-1] == E.shape[-2] >= 2 and tuple(G.shape) == tuple(E.shape[:-1]):
        diagonal = E.diagonal(dim1=-2, dim2=-1)
        if not p.near(diagonal, E.select(-1, 0)) and p.near(G, diagonal, float(diagonal.abs().max())):
            rows, cols = p.axis(E.dim() - 2), p.axis(E.dim() - 1)
            how = f"only the diagonal, each {rows}'s value for the {cols} at its own position,"
            details = {"which": p.which, "how": how, "got": tuple(G.shape), "want": tuple(E.shape), "each": cols}
            return Found("reduced_dim", details, key=("diagonal",))
    untestable = False
    for a in range(E.dim()):
        if tuple(G.shape) != tuple(E.shape[:a] + E.shape[a + 1 :]):
            continue
        if E.shape[a] < 2:  # one entry along a: its first, its last, its average and its sum are all alike
            untestable = True
            continue
        if p.near(E, E.select(a, 0).unsqueeze(a).expand_as(E)):
            continue  # E does not vary along a: nothing tells the reductions apart
        for how, reduced in (
            ("the average", E.mean(a)),
            ("the sum", E.sum(a)),
            (f"only the first {p.axis(a)}", E.select(a, 0)),
            (f"only the last {p.axis(a)}", E.select(a, -1)),
        ):
            if p.near(G, reduced, float(reduced.abs().max()) if reduced.numel() else 1.0):
                over = f" over the {p.axis(a, True)}" if how in ("the average", "the sum") else ""
                details = {"which": p.which, "how": how + over, "got": tuple(G.shape), "want": tuple(E.shape)}
                details["each"] = p.axis(a)
                return Found("reduced_dim", details, key=(p.axis(a), how.split(" ")[1]))  # by name: batch dims vary
    return UNTESTABLE if untestable else None


def _varies(p: Pair) -> bool:
    finite = p.E[torch.isfinite(p.E)]
    return finite.numel() > 1 and float(finite.max() - finite.min()) > 10 * p.tol[0]


def _index_map(p: Pair) -> dict | None:
    """Along one dimension, G's entries are E's in another order: shifted, reversed, interleaved, permuted.
    Keyed by (dimension from the end, pattern), so that a case too short to show a pattern does not veto it."""
    G, E = p.G, p.E
    if G.shape != E.shape:
        return None
    out: dict = {}
    for a in range(E.dim()):
        n = E.shape[a]
        if n < 3:
            continue
        g, e = _flat(G, a), _flat(E, a)  # (n, rest): the entries along a, as rows
        bound, ge, ee = _allowed(p, e), _gaps(g, e), _gaps(e, e)
        for name, src, keep in _index_patterns(n):
            idx, kept = torch.tensor(src), torch.tensor(keep)
            if bool((ee[kept, idx] <= bound[idx]).all()) and p.near(E.index_select(a, kept), E.index_select(a, idx)):
                continue  # the pattern changes nothing on E here: this case cannot tell
            key = (a - E.dim(), name)
            holds = bool((ge[kept, idx] <= bound[idx]).all()) and p.near(
                G.index_select(a, kept), E.index_select(a, idx)
            )
            out[key] = Found("index_map", _index_words(p, a, name, n), key=key) if holds else None
        if n <= MAX_LISTED and not any(f is not None for k, f in out.items() if k[0] == a - E.dim()):
            out[("tested", a - E.dim())] = n  # an order this long could have shown here: see _agree_keys
            perm = _permutation(p, a)
            if perm is not None:  # keyed by the entries it moves, so that a longer case says the same
                moved = tuple((i, m) for i, m in enumerate(perm) if i != m)
                key = (a - E.dim(), "moved", moved)
                out[key] = Found("index_map", _index_words(p, a, "moved", n, moved), key=key)
    return out


#: The most entries along a dimension whose order the describer lists.
MAX_LISTED = 12


def _permutation(p: Pair, a: int) -> list[int] | None:
    """The order in which G holds E's entries along `a`, where each of G's matches exactly one of E's and that
    one only, and it is not E's own order; else None."""
    G, E, n = p.G, p.E, p.E.shape[a]
    other = tuple(b for b in range(E.dim()) if b != a)
    if other and bool(torch.isfinite(G).all()) and bool(torch.isfinite(E).all()):  # a cheap test first: the same
        for f in (torch.abs, torch.square):  # slices, in any order (weights' rows all sum to 1: squares differ)
            g, e = f(G).sum(other).sort().values, f(E).sum(other).sort().values
            if not p.near(g, e, float(e.abs().max()) + 1.0):
                return None
    g, e = _flat(G, a), _flat(E, a)
    err, bound = _gaps(g, e), _allowed(p, e)  # only the pairs near enough are compared entry by entry
    match = [
        [m for m in range(n) if err[k, m] <= bound[m] and p.near(G.select(a, k), E.select(a, m))] for k in range(n)
    ]
    if any(len(ms) != 1 for ms in match):
        return None
    perm = [ms[0] for ms in match]
    if sorted(perm) != list(range(n)) or perm == list(range(n)):
        return None
    return perm


def _index_patterns(n: int) -> list[tuple[str, list[int], list[int]]]:
    """(name, source index of each kept entry, kept entries): G.index_select(a, kept) == E.index_select(a, source)."""
    everything = list(range(n))
    out = []
    for s in (1, -1, 2, -2):
        kept = [i for i in everything if 0 <= i + s < n]
        if len(kept) >= 2:
            out.append((f"shift:{s}", [i + s for i in kept], kept))
    out.append(("reversed", everything[::-1], everything))
    if n % 2 == 0:
        out.append(("halves", everything[0::2] + everything[1::2], everything))  # evens first, then odds
        half = n // 2
        out.append(("interleaved", [i // 2 + (i % 2) * half for i in everything], everything))
        out.append(("pairs_swapped", [i + 1 if i % 2 == 0 else i - 1 for i in everything], everything))
    return out


def _index_words(p: Pair, a: int, name: str, n: int, moved: tuple = ()) -> dict:
    one, many = p.axis(a), p.axis(a, True)
    if name.startswith("shift:"):
        s = int(name.split(":")[1])
        sign = "+" if s > 0 else "-"
        how = f"your {one} i holds what belongs at {one} i {sign} {abs(s)}: the {many} are off by {abs(s)}"
        if s == 1:
            how += f" (does your count of {many} start at 1 instead of 0?)"
    elif name == "reversed":
        how = f"your {many} run in reverse: your {one} i holds what belongs at {one} {n - 1} - i"
    elif name == "halves":
        h = n // 2
        how = (
            f"your {many} 0 to {h - 1} hold the expected {many} 0, 2, 4, ... and your {many} {h} to {n - 1} the "
            f"expected {many} 1, 3, 5, ...: the expected order interleaves them, so that {many} 2i and 2i + 1 sit "
            "side by side"
        )
    elif name == "interleaved":
        h = n // 2
        how = (
            f"your {many} alternate between the expected first half and second half: your {one} 2i holds the "
            f"expected {one} i and your {one} 2i + 1 the expected {one} {h} + i"
        )
    elif name == "moved":
        mine = _listed([i for i, _ in moved])
        theirs = _listed([m for _, m in moved])
        how = f"your {many} {mine} hold the expected {many} {theirs}, in that order; the others are in place"
    else:
        how = f"each pair of {many} is swapped: your {one} 2i holds what belongs at {one} 2i + 1, and the other way"
    return {"which": p.which, "how": how}


def _listed(xs: list[int]) -> str:
    return ", ".join(str(x) for x in xs[:-1]) + f" and {xs[-1]}" if len(xs) > 1 else str(xs[0])


def _scaled(p: Pair) -> Found | str | None:
    """G = f * E for one number f (a sign where f = -1), named where it equals a quantity of the case."""
    G, E = p.G, p.E
    if G.shape != E.shape or p.boolean or not _varies(p):
        return UNTESTABLE if G.shape == E.shape else None
    finite = torch.isfinite(E) & torch.isfinite(G)
    if int(finite.sum()) < 2:
        return UNTESTABLE  # NaN or inf nearly everywhere: nan_output says so
    big = finite & (E.abs() > 1e-3 * float(E[finite].abs().max()))
    if int(big.sum()) < 2:
        return UNTESTABLE
    f = float((G[big] / E[big]).median())
    if not math.isfinite(f) or f == 0 or abs(f - 1) < 1e-2:
        return None
    if not p.near(G, f * E, abs(f)):
        return None
    if abs(f + 1) < 1e-3:
        return Found("scaled_values", {"which": p.which, "factor": -1.0}, key=("sign",))
    names = name_number(f, p.case)
    return Found("scaled_values", {"which": p.which, "factor": f}, key=("scale",), names=names, value=f)


def _scaled_along(p: Pair) -> Found | str | None:
    """G = E times a factor for each row and a factor for each column (of the last two dimensions, per batch item
    and head), not one factor for all: named where the factors are the lengths of the inputs' vectors for those
    rows and columns (q and k normalised to length 1 gives cosine similarities), or said of the rows or the
    columns alone where only they are scaled."""
    G, E = p.G, p.E
    if p.norm_dim is not None:
        return UNTESTABLE  # weights: rows_off_sum says it along the dimension they sum along
    if G.shape != E.shape or p.boolean or E.dim() < 2 or not _varies(p) or min(E.shape[-2:]) < 2:
        return UNTESTABLE if G.shape == E.shape else None
    finite = torch.isfinite(E) & torch.isfinite(G)
    if not bool(finite.all()):
        return UNTESTABLE
    big = E.abs() > 1e-3 * float(E.abs().max())
    ratio = G / torch.where(big, E, 1.0)
    if not bool((ratio[big] > 0).all()) or int(big.sum()) < 4:
        return None  # a sign flipped somewhere: not a scaling by lengths
    w = torch.where(big, torch.log(ratio.clamp_min(1e-300)), 0.0)
    u = torch.zeros_like(w[..., :1])  # per row
    v = torch.zeros_like(w[..., :1, :])  # per column
    rows, cols = big.sum(-1, keepdim=True).clamp_min(1), big.sum(-2, keepdim=True).clamp_min(1)
    for _ in range(20):  # log G/E = u + v on the big entries, least squares by alternating means
        u = torch.where(big, w - v, 0.0).sum(-1, keepdim=True) / rows
        v = torch.where(big, w - u, 0.0).sum(-2, keepdim=True) / cols
    if not p.near(G, E * torch.exp(u + v), float(G.abs().max())):
        return None
    spread_u = float(u.amax(-2).sub(u.amin(-2)).max())
    spread_v = float(v.amax(-1).sub(v.amin(-1)).max())
    if max(spread_u, spread_v) < 1e-2:
        return None  # one factor everywhere: scaled_values
    one, many = p.axis(E.dim() - 2), p.axis(E.dim() - 1)
    lengths = _lengths(p, E.shape[-2], E.shape[-1])
    fits = []
    for (rn, r), (cn, c) in itertools.product(lengths["rows"] + [("", None)], lengths["cols"] + [("", None)]):
        if not rn and not cn:
            continue
        model = E.clone()
        if r is not None:
            model = model / r.unsqueeze(-1)
        if c is not None:
            model = model / c.unsqueeze(-2)
        if p.near(G, model, float(G.abs().max())):
            fits.append((rn, cn))
    if len(fits) > 1:
        return UNTESTABLE  # q and k of one shape, or lengths alike: whose lengths they are cannot be told
    if fits:
        ((rn, cn),) = fits
        parts = [
            f"the length of its {one}'s vector (|{rn}[i]|)" if rn else "",
            f"of its {many}'s (|{cn}[j]|)" if cn else "",
        ]
        how = "each is the expected value divided by " + " and ".join(x for x in parts if x)
        if rn and cn:
            how += f": {rn} and {cn} were normalised to length 1, which makes a cosine similarity"
        return Found("scaled_along", {"which": p.which, "how": how}, key=("lengths", rn, cn))
    if (spread_u >= 1e-2) == (spread_v >= 1e-2):
        return None  # both, by factors no input's lengths explain: too loose a story to tell
    whose = one if spread_u >= 1e-2 else many
    how = f"each {whose}'s values are multiplied by a factor of their own"
    return Found("scaled_along", {"which": p.which, "how": how}, key=("rows" if spread_u >= 1e-2 else "cols",))


def _lengths(p: Pair, m: int, n: int) -> dict[str, list[tuple[str, torch.Tensor]]]:
    """The lengths of the inputs' vectors (their last dimension) that could scale E's rows (m of them) or its
    columns (n): {"rows": [("q", lengths of shape (..., m))], "cols": [...]}."""
    spec = TASKS[p.case.task]
    out: dict[str, list] = {"rows": [], "cols": []}
    for j, a in enumerate(p.case.spec.get("args", [])):
        t = p.case.tensors.get(a.get("t", "")) if isinstance(a, dict) else None
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dim() < 2:
            continue
        norm = t.to(torch.float64).norm(dim=-1)
        if bool((norm == 0).any()):
            continue
        name = spec.arg_name(j)
        if t.shape[-2] == m:
            out["rows"].append((name, norm))
        if t.shape[-2] == n:
            out["cols"].append((name, norm))
    return out


def _offset(p: Pair) -> Found | str | None:
    """G = E + c for one number c."""
    G, E = p.G, p.E
    if G.shape != E.shape or p.boolean or not _varies(p):
        return UNTESTABLE if G.shape == E.shape else None
    finite = torch.isfinite(E) & torch.isfinite(G)
    if int(finite.sum()) < 2:
        return UNTESTABLE
    c = float((G[finite] - E[finite]).median())
    if abs(c) < 10 * p.tol[0] or not p.near(G, E + c, abs(c)):
        return None
    names = name_number(c, p.case)
    return Found("offset_values", {"which": p.which, "offset": c}, key=("offset",), names=names, value=c)


_MAPS: tuple[tuple[str, Callable[[torch.Tensor], torch.Tensor], str, Callable[[torch.Tensor], bool]], ...] = (
    ("the log", torch.log, "leave out the log", lambda e: bool((e >= 0).all())),
    ("exp", torch.exp, "leave out the exp", lambda e: bool((e < 50).all())),
    ("the square", torch.square, "leave out the square", lambda e: True),
    ("the square root", torch.sqrt, "leave out the square root", lambda e: bool((e >= 0).all())),
    ("one minus", lambda e: 1 - e, "leave out the 1 - ...", lambda e: True),
)


def _elementwise(p: Pair) -> Found | str | None:
    """G = f(E) for f one of log, exp, square, square root, 1 - x."""
    G, E = p.G, p.E
    if G.shape != E.shape or p.boolean or not _varies(p):
        return UNTESTABLE if G.shape == E.shape else None
    finite = torch.isfinite(E)
    for name, f, undo, ok in _MAPS:
        if not ok(E[finite]):
            continue
        with torch.no_grad():
            mapped = f(E)
        if p.near(mapped, E):
            continue
        shown = torch.isfinite(mapped)
        if int(shown.sum()) < 2:
            continue
        scale = float(mapped[shown].abs().max())
        # where the map has no number (the log of a weight that underflowed to 0), G must be as far down
        gone = bool((G[~shown] == mapped[~shown]).all()) or bool(
            (G[~shown] < min(-6.9, float(mapped[shown].min()))).all()  # log(0 + a tiny epsilon)
        )
        if gone and p.near(G[shown], mapped[shown], scale):
            return Found("elementwise_map", {"which": p.which, "map": name, "undo": undo}, key=(name,))
    return None


def _mask_as_numbers(p: Pair) -> Found | str | None:
    """A mask given as two numbers (0 and -inf, say) where True and False were expected."""
    G, E = p.G, p.E
    if not p.boolean or G.shape != E.shape:
        return None
    t, f = G[E != 0], G[E == 0]
    if t.numel() == 0 or f.numel() == 0:
        return UNTESTABLE
    a, b = float(t[0]), float(f[0])
    if not (bool((t == a).all()) and bool((f == b).all())) or a == b or (a != 0 and b == 0):
        return None  # not two values, or True as nonzero and False as 0 (a mask, read as True/False)
    if _returned_dtype(p) == "bool":  # a mask indeed, False where True belongs and the other way: negated
        if (a, b) != (0.0, 1.0):
            return None
        details = {"which": p.which, "map": "the negation", "undo": "flip the comparison, or leave out the ~"}
        return Found("elementwise_map", details, key=("not",))
    return Found("mask_as_numbers", {"which": p.which, "true": _num(a), "false": _num(b)}, key=(a, b))


def _returned_dtype(p: Pair) -> str:
    """The dtype of the output the student's code returned ("bool", "float32"), as the worker described it."""
    outputs = p.r.meta.get("outputs") if isinstance(getattr(p.r, "meta", None), dict) else None
    if isinstance(outputs, list) and p.i < len(outputs) and isinstance(outputs[p.i], dict):
        return str(outputs[p.i].get("dtype", ""))
    return ""


def _num(x: float) -> str:
    if math.isinf(x):
        return "-inf" if x < 0 else "inf"
    return f"{x:g}"


def _softmax_again(p: Pair) -> Found | str | None:
    """G is a softmax of E along a dimension (E's own normalisation, where E is weights, taken once more)."""
    G, E = p.G, p.E
    if G.shape != E.shape or p.boolean or E.dim() == 0 or not _varies(p):
        return UNTESTABLE if G.shape == E.shape else None
    for a in sorted({E.dim() - 1, p.norm_dim if p.norm_dim is not None else E.dim() - 1}):
        if E.shape[a] < 2:
            continue
        soft = torch.softmax(E, dim=a)
        if p.near(G, soft):
            details = {"which": p.which, "axis": p.along(a), "they": "they" if p.which in PLURAL else "its values"}
            return Found("softmax_again", details, key=(a - E.dim(),))
    return None


def _positive(E: torch.Tensor) -> torch.Tensor:
    return E > 1e-12


def _other_temperature(p: Pair) -> Found | str | None:
    """Weights G = normalise(E ** t): the expected ones at another temperature, t named where it can be."""
    G, E, a = p.G, p.E, p.norm_dim
    if a is None or G.shape != E.shape or E.shape[a] < 2:
        return None
    on = _positive(E)
    if bool(((G > p.tol[0]) & ~on).any()) or not bool(torch.isfinite(G).all()):
        return None  # weight where none belongs is another relation
    use = on & (G > (1e-12 if p.tol[0] < 1e-3 else 1e-3))  # in half precision, tiny weights are rounding
    le, lg = torch.log(E.clamp_min(1e-300)), torch.log(G.clamp_min(1e-300))
    n = use.sum(a, keepdim=True).clamp_min(1)
    x = torch.where(use, le - (le * use).sum(a, keepdim=True) / n, 0.0)
    y = torch.where(use, lg - (lg * use).sum(a, keepdim=True) / n, 0.0)
    xx = float((x * x).sum())
    if xx < 1e-6:
        return UNTESTABLE  # E is flat along a: every temperature gives the same
    t = float((x * y).sum()) / xx
    if not math.isfinite(t) or t <= 0 or abs(t - 1) < 2e-2:
        return None
    model = torch.where(on, E.clamp_min(1e-300).pow(t), 0.0)
    model = model / model.sum(a, keepdim=True).clamp_min(1e-300)
    if not p.near(G, model):
        return None
    details = {"which": p.which, "t": t, "sharper": "sharper" if t > 1 else "flatter"}
    return Found("other_temperature", details, key=("t",), names=name_number(t, p.case), value=t)


def _normalised_elsewhere(p: Pair) -> Found | str | None:
    """Weights normalised along another dimension: G = E * u (along the right one) * v (along G's), summing to 1
    along the other one, as a softmax of the same scores over the wrong dimension is."""
    G, E, a = p.G, p.E, p.norm_dim
    if a is None or G.shape != E.shape:
        return None
    on = _positive(E)
    if not torch.equal(on, G > 0) and not torch.equal(on, G > p.tol[0]):
        return None
    for b in range(E.dim()):
        live = on.any(b)  # a key no query may see sums to 0 either way
        if b == a or E.shape[b] < 2 or not p.near(G.sum(b), live.to(torch.float64)):
            continue
        if p.near(E.sum(b), torch.ones_like(E.sum(b))):
            continue  # E sums to 1 along b too: nothing to tell apart
        d = torch.where(on, torch.log(G.clamp_min(1e-300)) - torch.log(E.clamp_min(1e-300)), 0.0)
        u = torch.zeros_like(d.sum(a, keepdim=True))
        v = torch.zeros_like(d.sum(b, keepdim=True))
        cnt_a = on.sum(a, keepdim=True).clamp_min(1)
        cnt_b = on.sum(b, keepdim=True).clamp_min(1)
        for _ in range(20):  # d = u + v on the support, least squares by alternating means
            u = (torch.where(on, d - v, 0.0)).sum(a, keepdim=True) / cnt_a
            v = (torch.where(on, d - u, 0.0)).sum(b, keepdim=True) / cnt_b
        model = torch.where(on, E * torch.exp(u + v), 0.0)
        model = model / model.sum(b, keepdim=True).clamp_min(1e-300)
        if p.near(G, model):
            dim = a - E.dim()
            details = {"which": p.which, "theirs": p.axis(b, True), "right": p.axis(a, True), "dim": dim}
            details["other"] = p.axis(b)
            return Found("normalised_elsewhere", details, key=(a - E.dim(), b - E.dim()))
    return None


def _rows_rescaled(p: Pair) -> dict | str | None:
    """Weights in the right proportions along each slice, each slice summing to something else than 1
    (rows_off_sum), and where the whole sums to 1 over more dimensions than the one asked for, that
    (rows_rescaled). Keyed by the dimensions summed over, each tried on every case: a total of 1 over some
    dimensions by chance on one case (four rows that happen to add up to 1) is not named."""
    G, E, a = p.G, p.E, p.norm_dim
    if a is None or G.shape != E.shape:
        return None
    on = _positive(E)
    sums = G.sum(a, keepdim=True)
    live = E.sum(a, keepdim=True) > 0  # a slice with nothing to attend to sums to 0 either way
    model = torch.where(on, E * sums, 0.0)
    if not bool((sums > 0)[live].all()) or not p.near(G, model):
        return None
    if p.near(G, E) and not close(G, model, *p.graded):
        return None  # wrong by less than the loose tolerance: in proportion only if so at the grade's precision
    if _rounds_to_1(p, sums[live.expand_as(sums)], E.shape[a]):
        return UNTESTABLE
    out: dict = {}
    others = [b for b in range(E.dim()) if b != a]
    for k in range(1, len(others) + 1):  # the fewest dimensions first: the most specific
        for group in itertools.combinations(others, k):
            total = G.sum(dim=(a, *group))
            key = ("all",) if k == len(others) else (a - E.dim(), tuple(b - E.dim() for b in group))
            if not p.near(total, torch.ones_like(total)):
                out[key] = None
                continue
            over = "the whole tensor" if k == len(others) else " and ".join(p.along(b) for b in (a, *group))
            details = {"which": p.which, "over": over, "along": p.along(a), "dim": p.case.extra.get("dim", -1)}
            out[key] = Found("rows_rescaled", details, key=key, value=k)
    live_sums = sums[live.expand_as(sums)]
    lo, hi = float(live_sums.min()), float(live_sums.max())
    details = {"which": p.which, "along": p.along(a), "dim": p.case.extra.get("dim", -1)}
    words = _sum_words(lo), _sum_words(hi)
    details["sums"] = words[0] if words[0] == words[1] else f"between {words[0]} and {words[1]}"
    out[("off",)] = Found("rows_off_sum", details, key=("off",), value=len(others) + 1)
    return out


#: The testers that look at an output wrong by less than the loose tolerance (``Pair.subtle``).
SUBTLE = (_rows_rescaled,)


def _rounds_to_1(p: Pair, sums: torch.Tensor, n: int) -> bool:
    """Whether every one of `sums` (of n weights each) is 1 but for rounding in the case's dtype: a failing case's
    weights in proportion may miss 1 by less than the loose tolerance (an epsilon of 1e-6 in a denominator)."""
    dtype = getattr(torch, p.case.dtype, None)
    eps = torch.finfo(dtype).eps if isinstance(dtype, torch.dtype) and dtype.is_floating_point else 1e-7
    return bool(((sums - 1).abs() <= 100 * eps * max(n, 1)).all())


def _sum_words(x: float) -> str:
    """A sum of weights, said so that one a hair off 1 does not print as 1: 0.8, 1 - 8.4e-07."""
    if x == 1 or abs(1 - x) >= 5e-4:
        return f"{x:.4g}"
    return f"1 {'-' if x < 1 else '+'} {abs(1 - x):.2g}"


def _support_changed(p: Pair) -> Found | str | None:
    """Weights in the right proportions where both give weight, with weight where none belongs (a mask left out)
    or none where some belongs (keys left out), said with the region where they differ."""
    G, E, a = p.G, p.E, p.norm_dim
    if a is None or G.shape != E.shape:
        return None
    atol = p.tol[0]
    on, mine = E > 1e-12, G > atol
    extra = (G > 1e-12) & ~on  # weight where the expected has none,
    if not bool((extra & mine).any()):  # clearly somewhere
        extra = extra & False
    care = E > 1e-6  # where a weight cannot round to 0, even in float16
    lost = on & (G == 0) & care  # none where the expected has some,
    if not bool((lost & (E > 2 * atol)).any()):  # clearly somewhere
        lost = lost & False
    if bool(extra.any()) == bool(lost.any()):
        return None  # neither, or both: no single story
    both = on & mine & ~lost
    # In proportion on the shared part: G / E is one number along each slice there.
    ratio = torch.where(both, G / E.clamp_min(1e-300), float("nan"))
    lo = torch.where(both, ratio, float("inf")).amin(a, keepdim=True)
    hi = torch.where(both, ratio, float("-inf")).amax(a, keepdim=True)
    rows = both.any(a, keepdim=True)
    spread = 1e-3 if p.tol[0] < 1e-3 else 0.1  # how far G / E may vary along a slice, in half precision too
    if not bool(torch.where(rows, (hi - lo) <= spread * hi.abs() + 1e-6, True).all()):
        return None
    if not p.near(G.sum(a), torch.ones_like(G.sum(a))):
        return None
    where = _region_words(p, extra) if extra.any() else _region_words(p, lost, care | ~on)
    if where is None:
        return None
    did = "weight_where_none" if extra.any() else "no_weight_where_some"
    return Found(did, {"which": p.which, "where": where, "one": p.axis(p.E.dim() - 2)}, key=(did, where))


# ------------------------------------------------------------------------------------------------ regions


def _regions(p: Pair) -> list[tuple[str, torch.Tensor, str]]:
    """Named regions of E's last two dimensions (broadcast over the ones before), most specific first:
    (words, cells, the words for the rest)."""
    E = p.E
    if E.dim() < 2:
        return []
    m, n = E.shape[-2], E.shape[-1]
    i = torch.arange(m).unsqueeze(1)
    j = torch.arange(n).unsqueeze(0) - (n - m)  # a square's diagonal; a wide one's, right-aligned (a cache's)
    rows, cols = p.axis(E.dim() - 2), p.axis(E.dim() - 1, True)
    out = []
    steps = p.case.extra.get("steps")
    if steps and len(steps) > 1 and m == n == sum(steps):
        start, end = (t.unsqueeze(1) for t in call_spans(steps))  # (m, 1): each query's call, from and to
        key = torch.arange(n).unsqueeze(0)
        own = f"the {cols} of each {rows}'s own call"
        out.append((f"the {cols} of earlier calls", (key < start).expand(m, n), own))  # (wrong, cells, right)
        out.append(
            (
                f"the {cols} after each {rows} within its own call",
                ((key > i) & (key < end)).expand(m, n),
                "every other cell",
            )
        )
        out.append(("the calls after the first", (i >= steps[0]).expand(m, n), "the first call"))
    mask = p.case.extra.get("mask")
    if isinstance(mask, torch.Tensor) and mask.dtype == torch.bool and tuple(mask.shape[-2:]) == (m, n):
        hidden = ~mask
        while hidden.dim() > 2 and hidden.shape[0] == 1:
            hidden = hidden[0]
        if hidden.dim() == 2 and hidden.any():
            dead = hidden.all(-1, keepdim=True)  # a query that may see no key: its weights are all 0
            if dead.any() and not dead.all():
                row = p.axis(E.dim() - 2)
                words = f"the {cols} of each {row} the mask hides every {p.axis(E.dim() - 1)} from"
                out.append((words, dead.expand(m, n), f"the {p.axis(E.dim() - 2, True)} that may see some {cols}"))
            out.append((f"the {cols} the mask hides", hidden, f"the {cols} it shows"))
    if m > 1 and n > 1:
        for w in range(1, m - 1):  # a window: the keys further back than w, which a local window hides
            out.append((f"the {cols} more than {w} before each {rows}", j < i - w, f"the other {cols}"))
        out += [
            ("the diagonal", j == i, "the cells off the diagonal"),
            (f"the {cols} just after the diagonal (j = i + 1)", j == i + 1, "every other cell"),
            (f"the {cols} after each {rows} (above the diagonal)", j > i, "the diagonal and below it"),
            (f"the {cols} before each {rows} (below the diagonal)", j < i, "the diagonal and above it"),
        ]
    return out


def _region_words(p: Pair, cells: torch.Tensor, care: torch.Tensor | None = None) -> str | None:
    """The name of the region that `cells` (E's shape, bool) fill exactly in every batch item and head, on the
    cells that `care` marks (all where None); None if no named region does."""
    care = torch.ones_like(cells) if care is None else care.expand_as(cells)
    for words, region, _ in _regions(p):
        r = region.to(torch.bool).expand_as(cells)
        if bool(r[care].any()) and torch.equal(cells[care], r[care]):
            return words
    return None


def _region_split(p: Pair) -> dict | None:
    """G right outside one region and wrong inside it: a region of the last two dimensions (a triangle, the cells a
    mask hides, the later calls), or a set of indices along one dimension (the odd columns, every head but the
    first). Keyed by the region, so that a case that cannot show it does not veto it."""
    G, E = p.G, p.E
    if G.shape != E.shape:
        return None
    atol, rtol = p.tol
    wrong = ~within(G, E, atol, rtol)  # wrong everywhere: every region this case can show fails below
    if not wrong.any() or not bool(torch.isfinite(G[wrong]).any()):
        return {}  # wrong only by NaN and inf: nan_output says where
    out: dict = {}
    filled = _filled(wrong, p)
    for words, region, rest in _regions(p):
        key = ("region", words)
        r = region.to(torch.bool).expand_as(wrong)
        if key in out or not bool(r.any()) or bool(r.all()):
            continue
        holds = torch.equal(filled, r)
        details = {"which": p.which, "wrong": words, "right": rest}
        share = float(r.to(torch.float64).mean())
        evidence = int(wrong.sum()) * math.log(share)
        out[key] = Found("region_split", details, key=key, value=share, evidence=evidence) if holds else None
    for a in range(E.dim()):
        n = E.shape[a]
        if n < 2:
            continue
        other = tuple(b for b in range(E.dim()) if b != a)
        bad = wrong.any(dim=other) if other else wrong
        for name, idx, (wrong_words, right_words) in _index_sets(p, a):
            key = ("axis", a - E.dim(), name)
            wrong_at = bad.nonzero().flatten().tolist()
            if name in ("odd", "even"):  # all inside the set and most of it: a column may agree by chance
                holds = bool(wrong_at) and set(wrong_at) <= set(idx) and 2 * len(wrong_at) >= len(idx)
            else:
                holds = wrong_at == idx
            details = {"which": p.which, "wrong": wrong_words, "right": right_words}
            evidence = int(wrong.sum()) * math.log(len(idx) / n)
            found = Found("region_split", details, key=key, value=len(idx) / n, evidence=evidence)
            out[key] = found if holds else None
    return out


def _filled(wrong: torch.Tensor, p: Pair) -> torch.Tensor:
    """`wrong` with the cells where G and E agree by chance filled in where a named region covers them: a cell
    whose value is 0 in both, inside a region the slip changed, is still inside the region."""
    regions = [region.to(torch.bool).expand_as(wrong) for _, region, _ in _regions(p)]
    for r in sorted(regions, key=lambda r: int(r.sum())):  # the smallest that covers them: regions nest
        if bool((wrong <= r).all()) and int(wrong.sum()) >= 0.5 * int(r.sum()):
            return r.clone()
    return wrong


def _index_sets(p: Pair, a: int) -> list[tuple[str, list[int], tuple[str, str]]]:
    """The index sets along dimension `a` that have a short name: (name, indices, (their words, the rest's))."""
    n = p.E.shape[a]
    one, many = p.axis(a), p.axis(a, True)
    out = []
    steps = p.case.extra.get("steps")
    if steps and len(steps) > 1 and one in ("query", "token") and n == sum(steps):
        out.append(("later calls", list(range(steps[0], n)), ("the calls after the first", "the first call")))
    if n >= 4:
        out.append(("odd", list(range(1, n, 2)), ("the odd ones", f"the even {many} (0, 2, 4, ...)")))
        out.append(("even", list(range(0, n, 2)), ("the even ones", f"the odd {many} (1, 3, 5, ...)")))
    if n >= 3:
        out.append(("but first", list(range(1, n)), (f"the later {many}", f"{one} 0")))
        out.append(("first", [0], (f"{one} 0", f"the other {many}")))
        out.append(("last", [n - 1], (f"the last {one}", f"the other {many}")))
    for k in range(2, n - 1):  # from k on, for k the same on every case
        out.append((f"from {k}", list(range(k, n)), (f"{many} {k} and after", f"{many} 0 to {k - 1}")))
    return out


# -------------------------------------------------------------------------------------------------- words


def _words(did: str, d: dict) -> dict:
    """The template fields of `did` from a relation's details."""
    named = d.get("named", "")
    if did == "scaled_values":
        f = d["factor"]
        if f == -1.0:
            return {
                **d,
                "how": "the expected one with the opposite sign: look for a stray minus "
                "or a subtraction the wrong way round",
            }
        text = f"{f:.3g} times the expected one everywhere"
        if named:
            text += f", and {f:.3g} = {named}: {_cause(named)}"
        return {**d, "how": text}
    if did == "offset_values":
        c = d["offset"]
        return {**d, "how": f"the expected one {'plus' if c > 0 else 'minus'} {abs(c):.3g} everywhere"}
    if did == "other_temperature":
        t = d["t"]
        cause = f", and {t:.3g} = {named}: {_cause(named)}." if named else "."
        return {**d, "t": f"{t:.3g}", "cause": cause}
    return d


def _cause(expr: str) -> str:
    """What a factor `expr` on the scores (or on the output) is the sign of, said as what gives exactly this."""
    if expr.startswith("1/"):
        return f"dividing by {expr[2:]} once more than needed gives exactly this"
    if expr.startswith("sqrt(") and "/" in expr:
        top, bottom = expr[5:-1].split("/")
        return f"dividing by sqrt({bottom}) where sqrt({top}) belongs gives exactly this"
    if "/" in expr:
        top, bottom = expr.split("/", 1)
        return f"dividing by {bottom} where {top} belongs gives exactly this"
    return f"leaving out a division by {expr} gives exactly this"


# ------------------------------------------------------------------------------------------- a heatmap


class _GridPair(Pair):
    """A heatmap's grid (queries x keys, as the reader sees it) against the weights it was given."""

    def __init__(self, grid: torch.Tensor, weights: torch.Tensor, atol: float, task_id: str):
        case = types.SimpleNamespace(task=task_id, dtype="float64", extra={}, tensors={}, label="")
        super().__init__(types.SimpleNamespace(case=case), 0, grid, weights, False)
        self.atol = atol

    @property
    def tol(self) -> tuple[float, float]:
        return (self.atol, 0.0)

    @property
    def which(self) -> str:
        return "heatmap"

    @property
    def norm_dim(self) -> int | None:
        return 1  # the weights of a row (one query) sum to 1


def drawn_as(grid, weights, atol: float, task_id: str) -> str | None:
    """What a heatmap that is not the weights shows instead, as a sentence ("your heatmap is the log of the
    expected values: leave out the log."), where one of the describer's value relations holds; else None."""
    G = torch.as_tensor(grid, dtype=torch.float64)
    E = torch.as_tensor(weights, dtype=torch.float64)
    if G.shape != E.shape or G.dim() != 2 or not bool(torch.isfinite(G).all()):
        return None
    p = _GridPair(G, E, atol, task_id)
    for tester in (_scaled, _offset, _elementwise, _softmax_again, _other_temperature, _rows_rescaled):
        found = tester(p)
        if isinstance(found, Found):
            d = _agree([found])
            if d is not None:
                for said in ("the expected values", "the expected heatmap", "the expected one"):
                    d.message = d.message.replace(said, "the weights")
                return d.message
    return None
