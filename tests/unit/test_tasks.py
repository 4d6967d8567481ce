"""tasks.TASKS: one spec per task, and it agrees with the reference, the cases and the rules that read it."""

from __future__ import annotations

import inspect

import pytest
from attnlab import reference
from attnlab.answers.cases import BUILDERS
from attnlab.answers.replay import CALLEES as REPLAYABLE
from attnlab.course import load_course
from attnlab.grading.cases import make_cases
from attnlab.grading.diagnose import CATALOGUE
from attnlab.grading.forbidden import NEEDS
from attnlab.tasks import TASK_IDS, TASKS

FUNCTIONS = {t.function for t in TASKS.values()}


def test_the_course_grades_the_tasks_in_the_specs_order():
    assert [t.id for t in load_course().tasks] == list(TASK_IDS)
    assert list(BUILDERS) == list(TASK_IDS)  # every task has its cases


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_a_spec_names_the_reference_s_function_and_its_arguments_in_order(task_id):
    spec = TASKS[task_id]
    fn = getattr(reference, spec.function)
    target = fn.forward if inspect.isclass(fn) else fn
    params = [p for p in inspect.signature(target).parameters if p != "self"]
    assert params[: len(spec.args)] == list(spec.args), params


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_a_spec_names_as_many_outputs_as_the_reference_returns(task_id):
    spec = TASKS[task_id]
    cases = [c for c in make_cases(task_id, 5, ["float32"], ["cpu"]) if c.kind in ("call", "module", "plot")]
    assert cases and {len(c.expected) for c in cases} == {len(spec.outputs)}


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_callees_are_other_tasks_functions_and_the_replayed_ones_are_among_them(task_id):
    spec = TASKS[task_id]
    assert set(spec.callees) <= FUNCTIONS - {spec.function}
    assert set(spec.replayed) <= set(spec.callees) and set(spec.replayed) <= set(REPLAYABLE)
    assert spec.computes is None or set(spec.computes) <= set(NEEDS)


def test_every_task_specific_diagnosis_belongs_to_a_task():
    assert {task for task, _ in CATALOGUE.values()} <= set(TASK_IDS) | {"*"}
