"""What the grader knows about each task: one `TaskSpec` per task, in course order.

A task's spec is the only place that names its function, its arguments, its outputs and the student's
own functions it may call. The judge, the diagnoses, the case builders and the replay read it. One id
names a task everywhere: the stub, the nbgrader grade_id, course.yml, the pytest marker, the JSON report
and the diagnosis catalogue.

A course's own task comes from a module in the course's folder (``attnlab.task_api``, docs/own_task.md),
which `register_spec` adds to TASKS when course.yml is loaded; TASK_IDS stays attnlab's own eight. Adding one
of attnlab's own means: a spec here, its reference function (``reference/attention.py``), its cases
(``answers/cases.py``), its mistake models and where they apply (``answers/mistakes.py``, knob models in
``answers/knobs.py``), its callees' replay where other tasks call it (``answers/replay.py``), and its rules
(``grading/diagnose.py``).

Stdlib only, so that the CLI can start its child process before anything heavy is imported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Knob:
    """A setting of a task's reference that a student may have set otherwise: the describer
    (``attnlab.grading.describe``) tries each value and names the one that gives the student's numbers.

    The words are public (they go into a hint); how the reference is run with the knob turned is not
    (``attnlab.answers.knobs``), since the reference is one turn away."""

    #: "diagonal", "args": with a value, the mistake model "knob:NAME=VALUE" in ``attnlab.answers.knobs``.
    name: str
    #: (value, what the student's output then is, in words): "k=q" -> "q @ q^T / sqrt(d): q where k belongs".
    choices: tuple[tuple[str, str], ...]
    #: The output it is compared on.
    output: int = 0


@dataclass(frozen=True)
class TaskSpec:
    id: str
    #: The name the student defines (a function, or a class for a module task).
    function: str
    #: The contract's names of its positional arguments, for messages about an input.
    args: tuple[str, ...]
    #: The contract's names of its outputs, in order.
    outputs: tuple[str, ...]
    #: The student's own functions it may call: their calls are recorded, so that a mistake in one is
    #: charged to that function's task only (``attnlab.answers.replay``).
    callees: tuple[str, ...] = ()
    #: Of those, the ones the reference caller takes in the callee replay (the rest are reached through them).
    replayed: tuple[str, ...] = ()
    #: What to compute instead of a placeholder (the ``constant_output`` diagnosis).
    todo: str = "compute the output from the inputs"
    #: What its computation cannot do without ("matmul", "exp"): right values whose op trace lacks it were not
    #: watched (the canary, ``attnlab.grading.forbidden.trace_gap``). () asks for any op at all; None checks nothing.
    computes: tuple[str, ...] | None = None
    #: The lesson that teaches it, as its folder and notebook are named: later lessons read it from there
    #: (``attnlab.earlier_lessons``).
    lesson: str = ""
    #: For each output, the names of its last dimensions, singular ("query", "key"): how the describer says
    #: where a wrong output is wrong. The dimensions before them, if any, are named "batch item".
    axes: tuple[tuple[str, ...], ...] = ()
    #: The outputs that are weights summing to 1 along dim ``case.extra["dim"]`` (-1 where it has none).
    distributions: tuple[str, ...] = ()
    #: The reference's knobs that the describer tries (`Knob`).
    knobs: tuple[Knob, ...] = ()

    @property
    def lesson_number(self) -> str:
        """'1' for lesson1_qk_scores: how a student names the lesson."""
        return self.lesson.removeprefix("lesson").split("_", 1)[0]

    def knob(self, name: str) -> Knob:
        return next(k for k in self.knobs if k.name == name)

    def output_name(self, i: int) -> str:
        return self.outputs[i] if i < len(self.outputs) else f"#{i}"

    def arg_name(self, i: int) -> str:
        return self.args[i] if i < len(self.args) else f"#{i}"


TASKS: dict[str, TaskSpec] = {
    t.id: t
    for t in (
        TaskSpec(
            "qk_scores",
            "qk_scores",
            args=("q", "k"),
            outputs=("scores",),
            computes=("matmul",),
            todo="compute the scores from q and k, q @ k^T / sqrt(d), one row per query",
            lesson="lesson1_qk_scores",
            axes=(("query", "key"),),
            distributions=(),
            knobs=(
                Knob(
                    "args",
                    (
                        ("k=q", "your scores are q @ q^T / sqrt(d): you used q where k belongs"),
                        ("q=k", "your scores are k @ k^T / sqrt(d): you used k where q belongs"),
                    ),
                ),
            ),
        ),
        TaskSpec(
            "softmax_with_temperature",
            "softmax_with_temperature",
            args=("scores",),
            outputs=("weights",),
            computes=("exp",),
            todo="divide the scores by the temperature, subtract the maximum along dim, take exp and divide by "
            "its sum along dim",
            lesson="lesson2_softmax",
            axes=(),
            distributions=("weights",),
        ),
        TaskSpec(
            "causal_mask",
            "causal_mask",
            args=("seq_len",),
            outputs=("mask",),
            computes=(),
            todo="compare the positions: entry (i, j) is True where j <= i, so that each token sees itself and "
            "the past",
            lesson="lesson3_masking",
            axes=(("query", "key"),),
            distributions=(),
            knobs=(
                Knob(
                    "diagonal",
                    (
                        (
                            "1",
                            "your mask also shows each query the next key (j <= i + 1, as torch.tril(..., "
                            "diagonal=1) gives): keep the diagonal at 0, so that j <= i",
                        ),
                        (
                            "2",
                            "your mask also shows each query the next two keys (j <= i + 2): keep the diagonal at "
                            "0, so that j <= i",
                        ),
                    ),
                ),
            ),
        ),
        TaskSpec(
            "attention",
            "attention",
            args=("q", "k", "v", "mask"),
            outputs=("output", "weights"),
            callees=("qk_scores", "softmax_with_temperature"),
            replayed=("qk_scores", "softmax_with_temperature"),
            computes=("matmul", "exp"),
            todo="the weights are the softmax of the scaled scores (hidden keys set to -inf first), and the "
            "output is the weights times v",
            lesson="lesson3_masking",
            axes=(("query", "feature"), ("query", "key")),
            distributions=("weights",),
            knobs=(
                Knob(
                    "args",
                    (
                        ("v=k", "your output is weights @ k: the blend must mix the values, weights @ v"),
                        ("v=q", "your output is weights @ q: the blend must mix the values, weights @ v"),
                    ),
                ),
                Knob(
                    "blend",
                    (
                        (
                            "scores",
                            "your output is scores @ v, the values mixed by the scores from before the softmax: "
                            "the blend must use the weights, weights @ v",
                        ),
                        (
                            "weights^T",
                            "your output is weights^T @ v, the weights transposed: each query's output must mix "
                            "the values by its own row of weights, weights @ v",
                        ),
                    ),
                ),
            ),
        ),
        TaskSpec(
            "multi_head_attention",
            "MultiHeadAttention",
            args=("x",),
            outputs=("output", "weights"),
            callees=("attention", "causal_mask", "qk_scores", "softmax_with_temperature"),
            replayed=("attention", "causal_mask"),
            computes=("matmul", "exp"),
            todo="project x with W_q, W_k and W_v, split the heads, run attention in each head, join them and "
            "apply W_o",
            lesson="lesson4_multi_head",
            axes=(("batch item", "position", "feature"), ("batch item", "head", "query", "key")),
            distributions=("weights",),
            knobs=(
                Knob(
                    "heads",
                    (
                        (
                            "interleaved",
                            "your heads each take every n_heads-th feature (as view(B, L, d_head, "
                            "n_heads) splits them): head h takes features h * d_head to (h + 1) * d_head - 1, as "
                            "view(B, L, n_heads, d_head) then transpose(1, 2) gives",
                        ),
                    ),
                    output=1,
                ),
                Knob(
                    "params",
                    (
                        ("W_k=W_q", "your keys are projected with W_q, where W_k belongs: k = self.W_k(x)"),
                        ("W_q=W_k", "your queries are projected with W_k, where W_q belongs: q = self.W_q(x)"),
                        ("W_k=I", "your keys are x itself, never projected: k = self.W_k(x)"),
                        ("W_q=I", "your queries are x itself, never projected: q = self.W_q(x)"),
                    ),
                    output=1,
                ),
                Knob(
                    "params_v",
                    (
                        ("W_v=W_k", "your values are projected with W_k, where W_v belongs: v = self.W_v(x)"),
                        ("W_v=W_q", "your values are projected with W_q, where W_v belongs: v = self.W_v(x)"),
                        ("W_v=I", "your values are x itself, never projected: v = self.W_v(x)"),
                    ),
                ),
                Knob(
                    "linear",
                    (
                        (
                            "x@W",
                            "your projections compute x @ W.weight, where nn.Linear computes x @ W.weight.T + W.bias: "
                            "call the layer, self.W_q(x), or transpose the weight and add the bias",
                        ),
                    ),
                    output=1,
                ),
            ),
        ),
        TaskSpec(
            "plot_attention",
            "plot_attention",
            args=("weights", "query_tokens", "key_tokens"),
            outputs=("ax",),
            todo="pass weights itself to imshow (or matshow, pcolormesh), unchanged",
            lesson="lesson3_masking",
            axes=(("query", "key"),),
            distributions=(),
        ),
        TaskSpec(
            "positional_encoding",
            "positional_encoding",
            args=("seq_len", "d_model"),
            outputs=("pe",),
            computes=(),
            todo="fill column 2i with sin(pos / 10000^(2i / d_model)) and column 2i + 1 with cos of the same angle",
            lesson="lesson5_order_and_memory",
            axes=(("position", "column"),),
            distributions=(),
        ),
        TaskSpec(
            "kv_cache_attention",
            "KVCacheAttention",
            args=("x_new",),
            outputs=("output", "weights"),
            callees=("attention", "causal_mask", "qk_scores", "softmax_with_temperature"),
            replayed=("attention", "causal_mask"),
            computes=("matmul", "exp"),
            todo="project the new tokens, append their keys and values to the cache, and attend the new queries "
            "over every cached key with the causal mask's last n rows",
            lesson="lesson5_order_and_memory",
            axes=(("batch item", "token", "feature"), ("batch item", "query", "key")),
            distributions=("weights",),
            knobs=(
                Knob(
                    "params",
                    (
                        ("W_k=W_q", "your keys are projected with W_q, where W_k belongs: k = self.W_k(x_new)"),
                        ("W_q=W_k", "your queries are projected with W_k, where W_q belongs: q = self.W_q(x_new)"),
                        ("W_k=I", "your keys are x_new itself, never projected: k = self.W_k(x_new)"),
                        ("W_q=I", "your queries are x_new itself, never projected: q = self.W_q(x_new)"),
                    ),
                    output=1,
                ),
                Knob(
                    "params_v",
                    (
                        ("W_v=W_k", "your values are projected with W_k, where W_v belongs: v = self.W_v(x_new)"),
                        ("W_v=W_q", "your values are projected with W_q, where W_v belongs: v = self.W_v(x_new)"),
                        ("W_v=I", "your values are x_new itself, never projected: v = self.W_v(x_new)"),
                    ),
                ),
                Knob(
                    "linear",
                    (
                        (
                            "x@W",
                            "your projections compute x @ W.weight, where nn.Linear computes x @ W.weight.T + W.bias: "
                            "call the layer, self.W_q(x), or transpose the weight and add the bias",
                        ),
                    ),
                    output=1,
                ),
            ),
        ),
    )
}

#: attnlab's own tasks, in course order. A course's own tasks (``attnlab.task_api``) join TASKS when course.yml
#: is loaded, never this.
TASK_IDS = tuple(TASKS)


class TaskIdTaken(ValueError):
    """A course task's id is one of attnlab's own."""


def register_spec(spec: TaskSpec) -> None:
    """Put a course task's contract where attnlab looks tasks up (``attnlab.task_api.install``; in the student
    build, from its public cases). Registering the same id again replaces it: course.yml may be loaded twice."""
    if spec.id in TASK_IDS:
        raise TaskIdTaken(f"task id {spec.id!r} is one of attnlab's own tasks: choose another")
    TASKS[spec.id] = spec


def spec_to_data(spec: TaskSpec) -> dict:
    """A contract as plain JSON data: how the student build carries a course task's (`spec_from_data`)."""
    return asdict(spec)


def spec_from_data(data: dict) -> TaskSpec:
    tuples = {k: tuple(v) for k, v in data.items() if isinstance(v, list) and k != "knobs" and k != "axes"}
    knobs = tuple(
        Knob(k["name"], tuple(tuple(c) for c in k["choices"]), k.get("output", 0)) for k in data.get("knobs", ())
    )
    axes = tuple(tuple(a) for a in data.get("axes", ()))
    return TaskSpec(**{**data, **tuples, "knobs": knobs, "axes": axes})
