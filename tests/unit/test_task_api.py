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
from attnlab.judging.cases import make_cases
from attnlab.judging.describe import IDS
from attnlab.judging.judge import judge_task
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
    "an op attnlab does not watch for": (
        {"id": "rope"},
        "from attnlab.task_api import Task, TaskSpec\n"
        "TASK = Task(TaskSpec('rope', 'rope', args=('x',), outputs=('y',), computes=('lt',)), abs, lambda *a: [])\n",
        "computes 'lt' is none of matmul, exp",
    ),
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


DOUBLE = """
import torch
from attnlab.task_api import Slip, Task, TaskSpec, call_case


def double(x):
    return 2 * x


def cases(draw, dtypes, devices):
    x = draw.randn(3, dtype="float64")
    return [call_case({task!r}, "v0", "x (3,)", [("x", x)], double, dtype="float64")]


def forgot(case):
    return [case.tensors[{name!r}].double() + 2]


TASK = Task(
    TaskSpec("double", "double", args=("x",), outputs=("y",)),
    reference=double,
    cases=cases,
    slips=(Slip("double_forgot", "2 added, not multiplied", "your y is x + 2: multiply it by 2", forgot),),
)
"""


@pytest.mark.parametrize(
    ("task", "name", "words"),
    [
        ("dbl", "x", "case 'v0' is for task 'dbl': pass call_case the spec's id, 'double'"),
        ("double", "max_len", "slip 'double_forgot' raised KeyError: 'max_len' on case 'v0'"),
    ],
    ids=["call_case given another id", "a slip that breaks"],
)
def test_a_course_tasks_cases_and_slips_are_tried_when_course_yml_loads(tmp_path, task, name, words):
    """Not in the middle of grading a class: the public cases are built and every slip runs on them at load."""
    with pytest.raises(CourseError) as e:
        load_course(
            _course_with(
                tmp_path, id="double", module=_module(tmp_path, "double.py", DOUBLE.format(task=task, name=name))
            )
        )
    assert words in str(e.value) and "\n" not in str(e.value), str(e.value)
    task_api.uninstall("double")
    # the control: the same module, right, loads, and its slip is named
    try:
        course = load_course(
            _course_with(
                tmp_path, id="double", module=_module(tmp_path, "ok.py", DOUBLE.format(task="double", name="x"))
            )
        )
        named = _judged(course, "double", lambda c: _outputs(c, [c.tensors["x"].double() + 2]))
        assert named.diagnoses[0].id == "double_forgot" and "multiply it by 2" in named.feedback
    finally:
        task_api.uninstall("double")


def test_a_mask_stays_a_mask_in_a_course_tasks_expected_outputs():
    from attnlab.task_api import Draw, call_case

    lengths = Draw(1).randint(1, 6, 4)
    case = call_case(
        "padding_mask",
        "v0",
        "4 sequences",
        [("lengths", lengths), ("max_len", 6)],
        lambda n, L: torch.arange(L)[None, :] < n[:, None],
        dtype="bool",
    )
    assert case.expected[0].dtype == torch.bool and case.expected[0].shape == (4, 6)
    assert case.spec["args"] == [{"t": "lengths"}, {"v": 6}]  # an int tensor asks for no gradient


SCALED = """
import numpy as np
import torch
from attnlab.task_api import Task, TaskSpec, call_case

SCALE = 3


def scaled(x):
    return x * SCALE + float(np.float64(0.5))


def cases(draw, dtypes, devices):
    return [call_case("scaled", "v0", "x (3,)", [("x", draw.randn(3, dtype="float64"))], scaled, dtype="float64")]


TASK = Task(TaskSpec("scaled", "scaled", args=("x",), outputs=("y",)), reference=scaled, cases=cases)
"""


def test_a_reference_that_reads_its_modules_constants_and_imports_runs_as_a_student_file(tmp_path):
    """The self-check's known-correct file holds the reference with the module's imports and plain constants it
    reads; the control: without them (the function alone) it cannot run."""
    import inspect

    try:
        load_course(_course_with(tmp_path, id="scaled", module=_module(tmp_path, "scaled.py", SCALED)))
        task = task_api.installed("scaled")
        namespace: dict = {}
        exec(compile(task_api.solution_source(task), "known_correct.py", "exec"), namespace)  # noqa: S102
        assert namespace["scaled"](torch.ones(2)).tolist() == [3.5, 3.5]
        bare: dict = {}
        exec(compile(inspect.getsource(task.reference), "bare.py", "exec"), {"torch": torch}, bare)  # noqa: S102
        with pytest.raises(NameError):
            bare["scaled"](torch.ones(2))
    finally:
        task_api.uninstall("scaled")


PADDING = """
import torch
from attnlab.task_api import Task, TaskSpec, call_case


def padding_mask(lengths, max_len):
    return torch.arange(max_len)[None, :] < lengths[:, None]


def cases(draw, dtypes, devices):
    out = []
    for n, (B, L) in enumerate([(4, 7), (3, 5), (2, 6)]):
        lengths = draw.randint(1, L, B)
        label = f"{B} sequences, max_len = {L}"
        args = [("lengths", lengths), ("max_len", L)]
        out.append(call_case("padding_mask", f"v{n}", label, args, padding_mask, dtype="bool"))
    return out


TASK = Task(
    TaskSpec(
        "padding_mask", "padding_mask", args=("lengths", "max_len"), outputs=("mask",), axes=(("sequence", "position"),)
    ),
    reference=padding_mask,
    cases=cases,
)
"""


def test_a_bool_mask_the_other_way_round_is_its_negation_not_numbers(tmp_path):
    """A course task's mask returned as a bool mask, True where False belongs: the describer says it is negated; the
    control: the same values returned as the numbers 0 and 1 are a mask written as numbers."""
    try:
        course = load_course(_course_with(tmp_path, id="padding_mask", module=_module(tmp_path, "p.py", PADDING)))
        negated = _judged(course, "padding_mask", lambda c: returns(~c.expected[0]))
        assert negated.diagnoses[0].id == "elementwise_map", negated.feedback
        assert "your mask is the negation of the expected values" in negated.feedback
        numbers = _judged(course, "padding_mask", lambda c: returns((~c.expected[0]).float()))
        assert "negation" not in numbers.feedback, numbers.feedback
    finally:
        task_api.uninstall("padding_mask")


def test_course_yml_loaded_again_reuses_the_task_until_its_module_changes(own):
    """The pytest plugin and nbgrader load course.yml more than once: the module runs again only once it changed."""
    import os

    first = task_api.installed("alibi_bias")
    load_course(EXAMPLE / "course.yml")
    assert task_api.installed("alibi_bias") is first
    module = Path(own.task("alibi_bias").module)
    stat = module.stat()
    try:  # the control: the file changed (its time, here) is loaded again
        os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        load_course(EXAMPLE / "course.yml")
        assert task_api.installed("alibi_bias") is not first
    finally:
        os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_slip_that_gives_another_number_of_outputs_is_one_line_at_load(tmp_path):
    text = DOUBLE.format(task="double", name="x").replace("return [case.tensors", "return [None, case.tensors")
    with pytest.raises(CourseError, match="slip 'double_forgot' must return a list of 1 outputs"):
        load_course(_course_with(tmp_path, id="double", module=_module(tmp_path, "two.py", text)))
    task_api.uninstall("double")


def test_a_task_loaded_again_without_a_slip_names_that_slip_no_more(tmp_path):
    from attnlab.judging.diagnose import CATALOGUE

    with_slip = DOUBLE.format(task="double", name="x")
    without = with_slip.replace("    slips=(Slip(", "    slips=() or (Slip(").replace("forgot),),", "forgot),)[:0],")
    try:
        load_course(_course_with(tmp_path, id="double", module=_module(tmp_path, "d.py", with_slip)))
        assert "double_forgot" in CATALOGUE
        load_course(_course_with(tmp_path, id="double", module=_module(tmp_path, "d2.py", without)))
        assert task_api.installed("double").slips == () and "double_forgot" not in CATALOGUE
    finally:
        task_api.uninstall("double")


def _scale_by_two(x):
    return 2 * x


def _doubled_plus_one(x):
    return _scale_by_two(x) + 1


def test_a_course_task_whose_reference_calls_another_course_task_gets_the_callee_replay():
    """Callees work between a course's own tasks as between attnlab's: the caller's reference is run with what the
    student's callee returned. Control: with no record of the callee, the replay is the reference's own answer."""
    from attnlab.answers import Replay

    from .fakes import callee_call

    def cases_of(task_id, fn, callees=()):
        def cases(draw, dtypes, devices):
            x = draw.randn(3, 4)
            return [task_api.call_case(task_id, "v0", "x (3, 4)", [("x", x)], fn)]

        spec = task_api.TaskSpec(task_id, fn.__name__, args=("x",), outputs=("y",), callees=callees, replayed=callees)
        return task_api.Task(spec, reference=fn, cases=cases)

    task_api.install(cases_of("scale_by_two", _scale_by_two))
    task_api.install(cases_of("doubled_plus_one", _doubled_plus_one, callees=("_scale_by_two",)))
    try:
        (case,) = make_cases("doubled_plus_one", 3, ["float32"], ["cpu"])
        x = case.tensors["x"].to(torch.float64)
        assert case.spec.get("record_callees")
        tensors: dict = {}
        record = callee_call(tensors, 0, "_scale_by_two", [x], 3 * x)  # the student's callee tripled
        stand_ins = Replay([record], tensors).functions()
        (replayed,) = case.recompute(_scale_by_two=stand_ins["_scale_by_two"])
        assert torch.allclose(replayed, 3 * x + 1)
        (control,) = case.recompute(_scale_by_two=Replay([], {}).functions()["_scale_by_two"])
        assert torch.allclose(control, 2 * x + 1)
    finally:
        task_api.uninstall("doubled_plus_one")
        task_api.uninstall("scale_by_two")


CALLEE_MODULE = """
import torch
from attnlab.task_api import Task, TaskSpec, call_case


def halve(x):
    return x / 2


def cases(draw, dtypes, devices):
    return [call_case("halve", "v0", "x (3, 4)", [("x", draw.randn(3, 4))], halve)]


TASK = Task(TaskSpec("halve", "halve", args=("x",), outputs=("y",)), reference=halve, cases=cases)
"""

CALLER_MODULE = """
from pathlib import Path

from attnlab.task_api import Task, TaskSpec, call_case, load_task

halve = load_task(Path(__file__).with_name("halve.py")).reference  # the other course task's reference


def halve_then_square(x):
    return halve(x) ** 2


def cases(draw, dtypes, devices):
    return [call_case("halve_then_square", "v0", "x (3, 4)", [("x", draw.randn(3, 4))], halve_then_square)]


TASK = Task(
    TaskSpec("halve_then_square", "halve_then_square", args=("x",), outputs=("y",), callees=("halve",),
             replayed=("halve",)),
    reference=halve_then_square,
    cases=cases,
)
"""


def test_a_course_task_takes_another_course_task_s_reference_from_its_file_and_the_replay_stands_in(tmp_path):
    """The guide's way for two course files: the caller takes the callee's reference with load_task, calls it by
    its name, and the replay stands the student's own in for it. Control: with no record, the reference's own."""
    from attnlab.answers import Replay

    from .fakes import callee_call

    callee = task_api.load_task(tmp_path / _module(tmp_path, "halve.py", CALLEE_MODULE))
    caller = task_api.load_task(tmp_path / _module(tmp_path, "halve_then_square.py", CALLER_MODULE))
    task_api.install(callee)
    task_api.install(caller)
    try:
        (case,) = make_cases("halve_then_square", 3, ["float32"], ["cpu"])
        x = case.tensors["x"].to(torch.float64)
        tensors: dict = {}
        record = callee_call(tensors, 0, "halve", [x], x)  # the student's halve forgot to halve
        (replayed,) = case.recompute(halve=Replay([record], tensors).functions()["halve"])
        assert torch.allclose(replayed, x**2)
        (control,) = case.recompute(halve=Replay([], {}).functions()["halve"])
        assert torch.allclose(control, (x / 2) ** 2)
    finally:
        task_api.uninstall("halve_then_square")
        task_api.uninstall("halve")


def test_a_course_task_that_loses_points_gets_the_picture_a_built_in_one_does(own):
    """yours, expected, and where they differ, titled in the words of what was named. Control: a right answer
    has no picture."""
    from attnlab.reporting.pictures import task_figure, task_png

    reversed_heads = _judged(own, "alibi_bias", lambda c: _outputs(c, [c.expected[0].flip(0)]))
    figure = task_figure(reversed_heads)
    titles = [ax.get_title() for ax in figure.axes]
    assert {"your bias", "expected bias", "|yours - expected|"} <= set(titles), titles
    assert task_png(reversed_heads).startswith(b"\x89PNG")
    right = _judged(own, "alibi_bias", lambda c: _outputs(c, c.expected))
    assert task_figure(right) is None
