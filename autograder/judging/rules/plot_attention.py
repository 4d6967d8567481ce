"""The diagnosis rules of the plot_attention task: the heatmap's words; ``attnlab.judging.plot_judge`` judges the
figure and names these.

Public, as the whole catalogue is: the student build runs these rules on its public cases, reading the mistake
models from the cases' data (``diagnose.model_output``). The models themselves are in the task's module of the
answers zone (``attnlab/answers/tasks/plot_attention.py``), which this module may not import.
"""

from __future__ import annotations

TASK = "plot_attention"

#: id -> message template, as in ``diagnose.CATALOGUE``, where these join the task-independent ones.
CATALOGUE: dict[str, str] = {
    "plot_wrong_data": ("{detail}"),
    "plot_missing_labels": ("{detail}"),
    "plot_missing_colorbar": ("{detail}"),
}

#: id -> a few words that name the mistake (``diagnose.TITLES``).
TITLES: dict[str, str] = {
    "plot_wrong_data": "heatmap shows other numbers",
    "plot_missing_labels": "heatmap without its labels",
    "plot_missing_colorbar": "heatmap without a colour bar",
}
