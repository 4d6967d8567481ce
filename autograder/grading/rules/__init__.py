"""The diagnosis rules of attnlab's own tasks, one module per task, named by its id: what the task's mistakes are
called (``CATALOGUE``, ``TITLES``), and the rules that name them (``RULES``, and ``ERROR_RULE`` for a mistake that
shows only as an exception). ``attnlab.grading.diagnose`` puts them in the catalogue.

Public, as the catalogue is: the student build runs them on its public cases. Each may import the grading side's
``diagnose``, never the answers zone. A course's own task needs none: its named slips (``attnlab.task_api.Slip``)
bring their words, and one rule names them all (``diagnose.slip_rules``).
"""

from . import (
    attention,
    causal_mask,
    kv_cache_attention,
    multi_head_attention,
    plot_attention,
    positional_encoding,
    qk_scores,
    softmax_with_temperature,
)

#: In course order: the catalogue lists their ids in this order.
MODULES = (
    qk_scores,
    softmax_with_temperature,
    causal_mask,
    attention,
    multi_head_attention,
    plot_attention,
    positional_encoding,
    kv_cache_attention,
)
