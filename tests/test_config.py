"""course.yml is validated on load, and an error names the field."""

from __future__ import annotations

import pytest
import yaml
from attnlab.course import CourseError, load_course
from conftest import REPO


def _write(tmp_path, mutate):
    data = yaml.safe_load((REPO / "course.yml").read_text())
    mutate(data)
    p = tmp_path / "course.yml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_bundled_course_loads():
    c = load_course(REPO / "course.yml")
    assert [t.id for t in c.tasks] == [
        "qk_scores",
        "softmax_with_temperature",
        "causal_mask",
        "attention",
        "multi_head_attention",
        "plot_attention",
        "positional_encoding",
        "kv_cache_attention",
    ]
    assert sum(t.points for t in c.tasks) == 125.0  # lessons 1 to 4: 100; lesson 5: 25
    assert c.task("multi_head_attention").function == "MultiHeadAttention"  # the contract's name
    assert "softmax" in c.forbidden_for("attention")


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d["tasks"][1].update(points=0), "tasks.1.points"),
        (lambda d: d["tasks"][0].update(id="qk_score"), "tasks.0.id"),
        (lambda d: d.update(devices=["tpu"]), "devices.0"),
        (lambda d: d["limits"].update(task_secs=3), "limits.task_secs: unknown key"),
        (lambda d: d["tolerances"].pop("float16"), "no entry for dtype 'float16'"),
        (lambda d: d["tasks"].append(dict(d["tasks"][0])), "appears more than once"),
        (lambda d: d.pop("course_id"), "course_id: Field required"),
        (lambda d: d["tasks"][4].update(function="MHA"), "tasks.4: Value error, function 'MHA': the contract names"),
    ],
)
def test_invalid_course_names_the_field(tmp_path, mutate, field):
    with pytest.raises(CourseError) as e:
        load_course(_write(tmp_path, mutate))
    msg = str(e.value)
    assert field in msg and "\n" not in msg, msg


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(CourseError, match="file not found"):
        load_course(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("tasks: [\n")
    with pytest.raises(CourseError, match="not valid YAML"):
        load_course(bad)
