"""The public task API (attnlab.task_api): a course's own task, loaded from its module, judged as attnlab's own.

No child process: the cases are judged from made-up replies (`fakes.returns`), as in the other unit tests.
The worked example, examples/own_task/, is the course under test; tests/test_own_task.py grades it end to end.
Every test takes the course's tasks out of attnlab's registries again (`own`), so that nothing else sees them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from attnlab import task_api
from attnlab.course import CourseError, load_course
from attnlab.grading.cases import make_cases
from attnlab.grading.describe import IDS
from attnlab.grading.judge import judge_task
from attnlab.tasks import TASK_IDS, TASKS, spec_from_data, spec_to_data

from .fakes import returns

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own_task"
OWN = ("alibi_bias", "alibi_attention")


@pytest.fixture
def own():
    """The example course, its own tasks installed for the test and taken out after it."""
    course = load_course(EXAMPLE / "course.yml")
    yield course
    for tid in OWN:
        if tid in TASKS:
            task_api.uninstall(tid)
    assert not set(OWN) & set(TASKS)


def _judged(course, task_id: str, answer):
    cases = make_cases(task_id, course.public_seed, course.dtypes, ["cpu"])
    replies, tensors = {}, {}
    for c in cases:
        replies[c.id], tensors[c.id] = answer(c)
    return judge_task(course.task(task_id), cases, replies, tensors, course)


def _outputs(c, outs):
    return returns(*(o.to(torch.float32 if c.dtype == "float32" else torch.float64) for o in outs))


def test_a_course_task_joins_the_grader_from_its_module_and_leaves_the_built_in_ones_alone(own):
    assert [t.id for t in own.tasks][-2:] == list(OWN) and tuple(TASKS)[: len(TASK_IDS)] == TASK_IDS
    assert own.task("alibi_bias").function == "alibi_bias"
    assert Path(own.task("alibi_bias").module).is_absolute()  # the course passed on as data finds it again
    first = make_cases("alibi_attention", 7, own.dtypes, ["cpu"])
    again = make_cases("alibi_attention", 7, own.dtypes, ["cpu"])
    other = make_cases("alibi_attention", 8, own.dtypes, ["cpu"])
    assert torch.equal(first[0].tensors["q"], again[0].tensors["q"])  # deterministic from the seed
    assert not torch.equal(first[0].tensors["q"], other[0].tensors["q"])
    right = _judged(own, "alibi_bias", lambda c: _outputs(c, c.expected))
    assert right.score == right.max_score == 10, right.feedback


def test_a_course_tasks_slips_are_named_by_the_describer_with_no_rule_written_for_them(own):
    """The heads' slopes in reverse order and the bias with its sign flipped: the describer says so."""
    reversed_heads = _judged(own, "alibi_bias", lambda c: _outputs(c, [c.expected[0].flip(0)]))
    assert reversed_heads.diagnoses[0].id == "index_map", reversed_heads.feedback
    assert "your heads run in reverse" in reversed_heads.feedback
    flipped = _judged(own, "alibi_bias", lambda c: _outputs(c, [-c.expected[0]]))
    assert flipped.diagnoses[0].id == "scaled_values" and "opposite sign" in flipped.feedback
    # the control: noise of the same size is named by nothing
    noise = torch.Generator().manual_seed(3)
    noisy = _judged(
        own, "alibi_bias", lambda c: _outputs(c, [c.expected[0] + torch.rand(c.expected[0].shape, generator=noise)])
    )
    assert noisy.score < 10 and not {d.id for d in noisy.diagnoses} & set(IDS), noisy.feedback


def test_a_named_slip_of_a_course_task_is_named_in_its_own_words_only_where_it_holds(own):
    slip = task_api.installed("alibi_attention").slips[0]
    named = _judged(own, "alibi_attention", lambda c: _outputs(c, slip.model(c)))
    assert named.diagnoses[0].id == "alibi_distance_rewarded", named.feedback
    assert "your weights lean towards far keys" in named.feedback.lower()

    # the control: outputs as wrong, in another way (the weights at another temperature), are not called that
    def flatter(c):
        out, w = (e.to(torch.float64) for e in c.expected)
        w = w.sqrt() / w.sqrt().sum(-1, keepdim=True)
        return _outputs(c, [w @ c.tensors["v"].to(torch.float64), w])

    other = _judged(own, "alibi_attention", flatter)
    assert other.score < other.max_score and "alibi_distance_rewarded" not in [d.id for d in other.diagnoses]


def test_the_contract_travels_as_data_and_comes_back_the_same(own):
    for tid in (*TASK_IDS, *OWN):
        assert spec_from_data(spec_to_data(TASKS[tid])) == TASKS[tid]


def test_the_known_correct_file_of_a_course_task_is_its_reference_as_a_student_writes_it(own):
    """The self-check's known-correct submission runs, without attnlab, what solution_source gives."""
    from attnlab import reference

    namespace: dict = {}
    source = reference.SOURCE.read_text() + "\n\n" + task_api.solution_source(task_api.installed("alibi_bias"))
    assert "attnlab" not in task_api.solution_source(task_api.installed("alibi_bias"))
    exec(compile(source, "known_correct.py", "exec"), namespace)  # noqa: S102 - the instructor's own reference
    got = namespace["alibi_bias"](4, 6)
    assert got.dtype == torch.float32 and torch.allclose(
        got.double(), make_cases("alibi_bias", 1, ["float32"], ["cpu"])[1].expected[0]
    )


def _course_with(tmp_path: Path, **task) -> Path:
    data = yaml.safe_load((EXAMPLE / "course.yml").read_text())
    data["tasks"] = [{"id": "qk_scores", "points": 15}, {"points": 10, **task}]
    (tmp_path / "course.yml").write_text(yaml.safe_dump(data))
    (tmp_path / "tasks").mkdir(exist_ok=True)
    return tmp_path / "course.yml"


def _module(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / "tasks").mkdir(exist_ok=True)
    (tmp_path / "tasks" / name).write_text(text)
    return f"tasks/{name}"


BAD = {
    "no module for an unknown id": ({"id": "rope"}, None, "is none of attnlab's tasks"),
    "no such file": ({"id": "rope", "module": "tasks/rope.py"}, None, "no such task module"),
    "no TASK in it": ({"id": "rope"}, "x = 1\n", "define TASK = attnlab.task_api.Task(...)"),
    "its import fails": ({"id": "rope"}, "import not_a_module_anywhere\n", "importing it raised ModuleNotFoundError"),
    "a built-in task's id": ({"id": "attention"}, "x = 1\n", "one of attnlab's own tasks"),
}


@pytest.mark.parametrize("why", BAD, ids=list(BAD))
def test_a_broken_course_task_is_one_line_that_names_what_to_fix(tmp_path, why):
    task, text, words = BAD[why]
    if text is not None:
        task = {**task, "module": _module(tmp_path, "rope.py", text)}
    with pytest.raises(CourseError) as e:
        load_course(_course_with(tmp_path, **task))
    assert words in str(e.value) and "\n" not in str(e.value), str(e.value)
    assert "rope" not in TASKS


def test_a_module_whose_task_has_another_id_is_refused_and_the_right_one_loads(tmp_path):
    text = (EXAMPLE / "tasks" / "alibi_bias.py").read_text()
    with pytest.raises(CourseError, match="its TASK is 'alibi_bias', where course.yml says 'alibi'"):
        load_course(_course_with(tmp_path, id="alibi", module=_module(tmp_path, "alibi.py", text)))
    try:  # the control: the same module under its own id
        course = load_course(_course_with(tmp_path, id="alibi_bias", module="tasks/alibi.py"))
        assert course.task("alibi_bias").function == "alibi_bias"
    finally:
        task_api.uninstall("alibi_bias")
