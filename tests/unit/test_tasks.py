"""tasks.TASKS: one spec per task, and it agrees with the reference, the cases and the rules that read it; each of
attnlab's own tasks is one module of the answers zone (answers/tasks/), which the shared code never names."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import attnlab
import pytest
from attnlab import reference
from attnlab.answers import REGISTRY
from attnlab.answers.replay import originals
from attnlab.answers.tasks import BUILTIN, contracts_text
from attnlab.course import load_course
from attnlab.judging.cases import make_cases
from attnlab.judging.diagnose import CATALOGUE
from attnlab.judging.excuses import NEEDS
from attnlab.tasks import CONTRACTS, TASK_IDS, TASKS

FUNCTIONS = {t.function for t in TASKS.values()}


def test_the_course_grades_the_tasks_in_the_specs_order():
    assert [t.id for t in load_course().tasks] == list(TASK_IDS)
    assert [t.spec.id for t in BUILTIN] == list(TASK_IDS)  # every task has its module
    assert all(REGISTRY[t.spec.id] is t for t in BUILTIN)


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
    assert set(spec.replayed) <= set(spec.callees) and set(spec.replayed) <= set(originals())
    assert spec.computes is None or set(spec.computes) <= set(NEEDS)


def test_every_task_specific_diagnosis_belongs_to_a_task():
    assert {task for task, _ in CATALOGUE.values()} <= set(TASK_IDS) | {"*"}


def test_the_contracts_file_is_what_the_task_modules_say():
    """attnlab.tasks reads the contracts from contracts.json (stdlib only, and the student build has no modules):
    it must be what the modules define. Control: a contract changed in its module is seen."""
    assert CONTRACTS.read_text(encoding="utf-8") == contracts_text(), "run: python -m attnlab.answers.tasks"
    assert [TASKS[t.spec.id] for t in BUILTIN] == [t.spec for t in BUILTIN]
    changed = BUILTIN[0].spec.__class__(**{**vars(BUILTIN[0].spec), "todo": "something else"})
    assert changed != TASKS[changed.id]


@pytest.mark.parametrize("task", BUILTIN, ids=lambda t: t.spec.id)
def test_a_built_in_task_s_reference_is_the_reference_module_s(task):
    assert task.reference is getattr(reference, task.spec.function)


PACKAGE = Path(attnlab.__file__).parent
#: Every module of the package but the tasks' own: answers/tasks/ (the whole task) and judging/rules/ (its rules).
SHARED = sorted(
    str(p.relative_to(PACKAGE))
    for p in PACKAGE.rglob("*.py")
    if "__pycache__" not in p.parts and p.parent.name not in ("tasks", "rules")
)


def _names_a_task(path: Path) -> list[str]:
    """The string constants in a module's code (docstrings left out) that are a built-in task's id."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    return [
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in TASK_IDS and id(n) not in docs
    ]


@pytest.mark.parametrize("name", SHARED)
def test_no_module_but_a_task_s_own_names_a_task(name):
    """A task's contract, cases, slips, knobs and callee replay live in its module, its rules in its rules module:
    the rest of attnlab asks them. (The worker's stand-ins for an earlier lesson's functions, child/placeholders.py,
    are defined under those functions' names: the child zone imports no task module.)"""
    assert _names_a_task(PACKAGE / name) == []


def test_control_a_module_that_names_a_task_is_seen(tmp_path):
    (tmp_path / "m.py").write_text(
        '"""qk_scores in a docstring is words."""\nif case.task == "causal_mask":\n    pass\n'
    )
    assert _names_a_task(tmp_path / "m.py") == ["causal_mask"]
