"""The grading service's one seed rule, and that no door picks a seed or starts a checked zygote of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import attnlab
from attnlab.running.service import seed_for

PACKAGE = Path(attnlab.__file__).resolve().parent


class _File:
    def __init__(self, seeds):
        self._seeds = seeds

    def seeds(self):
        return self._seeds


def test_the_seed_rule_in_its_order(monkeypatch):
    monkeypatch.delenv("ATTNLAB_SECRET_SEED", raising=False)
    graded = _File([3, 5])
    assert seed_for(7, configured=8, results=graded, public=1) == (1, False)  # check(): the public seed
    assert seed_for(7, configured=8, results=graded) == (7, False)  # --seed
    assert seed_for(None, configured=8, results=graded) == (8, False)  # c.TrustedGrades.seed
    monkeypatch.setenv("ATTNLAB_SECRET_SEED", "9")
    assert seed_for(None, results=graded) == (9, False)  # the environment
    monkeypatch.delenv("ATTNLAB_SECRET_SEED")
    assert seed_for(None, results=graded) == (5, True)  # the results file's last: a rerun resumes it
    fresh = {seed_for(None, results=_File([]))[0] for _ in range(5)}
    assert len(fresh) > 1 and all(0 <= s < 2**31 for s in fresh)  # a fresh secret one, each time


def test_a_service_draws_its_fresh_seed_once(monkeypatch):
    """nbgrader's autograde grades notebook after notebook in one process: one fresh seed for all of them."""
    from attnlab.running.service import GradingService

    monkeypatch.delenv("ATTNLAB_SECRET_SEED", raising=False)
    service = GradingService(start=False)
    first = service.run_seed(None)
    assert service.run_seed(None) == first and service.run_seed(4) == 4


def _calls(path: Path) -> set[str]:
    """The names of what `path` calls, and the environment variables it reads by a constant name."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            f = node.func
            out.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
        if isinstance(node, ast.Constant) and node.value == "ATTNLAB_SECRET_SEED":
            out.add("ATTNLAB_SECRET_SEED")
    return out


def test_only_the_service_picks_a_seed_or_checks_the_machine():
    pick = {"randbelow", "ATTNLAB_SECRET_SEED", "ensure"}
    found = {
        path.relative_to(PACKAGE).as_posix(): sorted(_calls(path) & pick)
        for path in PACKAGE.rglob("*.py")
        if _calls(path) & pick
    }
    assert found == {"running/service.py": ["ATTNLAB_SECRET_SEED", "ensure", "randbelow"]}


def test_the_rule_sees_a_door_that_picks_its_own(tmp_path):
    """The control: a door that reads the secret seed itself, or runs the self-check, is seen."""
    door = tmp_path / "door.py"
    door.write_text("import os, secrets\nseed = int(os.environ['ATTNLAB_SECRET_SEED'])\nensure(z, c)\n")
    assert {"ATTNLAB_SECRET_SEED", "ensure"} <= _calls(door)
