"""The task ids, in course order. One id names a task everywhere: the stub, the nbgrader grade_id,
course.yml, the pytest marker, the JSON report and the diagnosis catalogue.

Kept apart from `config` (which imports pydantic) so that the CLI can start its child process first.
"""

TASK_IDS = (
    "qk_scores",
    "softmax_with_temperature",
    "causal_mask",
    "attention",
    "multi_head_attention",
    "plot_attention",
)
