"""pytest plugin for self-learners: ``pytest --attn-submission mywork.py`` gives one test per task.

Each test is marked with its task id, so ``pytest --attn-submission mywork.py -m qk_scores`` runs one.
A failing test shows the grader's hint. The submission is graded once, by the same trusted grader as
``attnlab check`` (public seed, child process), and every task's test reads its part of that result.

Precedence: ``--attn-submission`` on the command line, else the ``attn_submission`` ini value.

The items come from the course's tasks alone (course.yml, ``--attn-course``), never from test files, so
the plugin works in any folder. The student build (``attnlab.student_build``) ships it with its
``pytest11`` entry point, and pytest: there it grades on the public cases the wheel holds as data, in the
same sandboxed child, without the self-check (its known-correct submission would be the answers), and
``--attn-seed`` takes the public seed only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .tasks import TASK_IDS
from .version import is_student_build

HEADER = "attnlab {version}{build}: grading {path} (seed {seed}), torch {torch}"
STUDENT_BUILD = " (student build: public cases, no self-check)"
FAILURE = "{task}: {score:g}/{max_score:g}, {status}\n{feedback}{cases}"
OTHER_SEED = (
    "--attn-seed {seed}: this is attnlab's student build, which holds only the public cases (seed {public}); "
    "leave --attn-seed out"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("attnlab", "attnlab: grade an attention submission")
    group.addoption(
        "--attn-submission", metavar="PATH", default=None, help="a .py or .ipynb file to grade, one test per task"
    )
    group.addoption(
        "--attn-seed", type=int, default=None, help="the seed for the cases (default: the course's public seed)"
    )
    group.addoption("--attn-course", metavar="PATH", default=None, help="course.yml to use (default: the bundled one)")
    parser.addini("attn_submission", "a .py or .ipynb file to grade when --attn-submission is not given", default="")


def pytest_configure(config: pytest.Config) -> None:
    for task in TASK_IDS:
        config.addinivalue_line("markers", f"{task}: the attnlab task {task}")
    seed = config.getoption("--attn-seed")
    if _submission(config) and seed is not None and is_student_build():
        from .course import load_course

        public = load_course(config.getoption("--attn-course")).public_seed
        if seed != public:  # said now, in one line, not as a ValueError in every task's test
            raise pytest.UsageError(OTHER_SEED.format(seed=seed, public=public))
    if _submission(config) and hasattr(config.option, "dist"):
        # One submission is graded once, in this process: never spread over pytest-xdist's workers (which the
        # checkout's own addopts switch on), each of which would start a grader and grade it again.
        config.option.dist, config.option.tx = "no", []


def _submission(config: pytest.Config) -> str | None:
    return config.getoption("--attn-submission") or config.getini("attn_submission") or None


def pytest_report_header(config: pytest.Config) -> str | None:
    path = _submission(config)
    if not path:
        return None
    import torch

    from . import __version__
    from .course import load_course

    seed = config.getoption("--attn-seed")
    seed = load_course(config.getoption("--attn-course")).public_seed if seed is None else seed
    build = STUDENT_BUILD if is_student_build() else ""
    return HEADER.format(version=__version__, build=build, path=path, seed=seed, torch=torch.__version__)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    path = _submission(config)
    if not path:
        return
    if items:  # the tests of the folder it runs in (a checkout's own suite): not the submission's
        config.hook.pytest_deselected(items=list(items))
    name = Path(path).name  # the node id too: under the session, pytest would prefix it with "::"
    collector = SubmissionCollector.from_parent(session, name=name, path=Path(path).resolve(), nodeid=name)
    items[:] = list(collector.collect())
    # Reported as collected, so that pytest counts them ("collected 6 items / 5 deselected / 1 selected").
    config.hook.pytest_collectreport(report=pytest.CollectReport(collector.nodeid, "passed", None, list(items)))


class SubmissionCollector(pytest.Collector):
    def collect(self):
        from .course import load_course

        course = load_course(self.config.getoption("--attn-course"))
        for task in course.tasks:
            if task.id not in TASK_IDS:  # a course's own task: its marker, as attnlab's own have theirs
                self.config.addinivalue_line("markers", f"{task.id}: the course's task {task.id}")
            item = TaskItem.from_parent(self, name=task.id, task_id=task.id)
            item.add_marker(task.id)
            yield item


class TaskFailed(Exception):
    pass


class TaskItem(pytest.Item):
    def __init__(self, *, task_id: str, **kwargs):
        super().__init__(**kwargs)
        self.task_id = task_id

    def _result(self) -> dict:
        cache = self.config.stash.setdefault(_RESULTS, {})
        key = str(self.parent.path)
        if key not in cache:
            from .course import load_course
            from .earlier_lessons import self_check_submission
            from .running.grade import grade_submissions
            from .running.selfcheck import SelfCheckFailed
            from .running.service import seed_for
            from .running.submission import load_submission

            course = load_course(self.config.getoption("--attn-course"))
            seed = self.config.getoption("--attn-seed")
            # Grade every selected task at once: one child process, callee attribution intact.
            selected = [i.task_id for i in self.session.items if isinstance(i, TaskItem)]
            try:  # the self-check, in the full install only: never fail a self-learner's correct work for the machine
                zygote = _service(self.config).zygote(course)
            except SelfCheckFailed as e:
                raise TaskFailed(f"attnlab: {e}") from None
            # The lesson as the student's kernel runs it: its earlier() lines are their own earlier lessons.
            (cache[key],) = grade_submissions(
                [self_check_submission(load_submission(self.parent.path))],
                course=course,
                task_ids=selected or None,
                seed=seed_for(seed, public=course.public_seed if seed is None else None)[0],
                zygote=zygote,
            )
        return cache[key]

    def runtest(self) -> None:
        result = self._result()
        task = next(t for t in result["tasks"] if t["id"] == self.task_id)
        if task["status"] != "passed":
            failed = [c for c in task["cases"] if c["status"] not in ("passed", "pending")]
            cases = "".join(
                f"\n  - {c['label']}: {c['status']}" + (f" ({c['detail']})" if c.get("detail") else "")
                for c in failed[:6]
            )
            raise TaskFailed(
                FAILURE.format(
                    task=self.task_id,
                    score=task["score"],
                    max_score=task["max_score"],
                    status=task["status"],
                    feedback=task["feedback"],
                    cases=("\nfailing cases:" + cases) if cases else "",
                )
            )

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, TaskFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.parent.path, None, f"attnlab: {self.task_id}"


_RESULTS = pytest.StashKey[dict]()
_SERVICE = pytest.StashKey["GradingService"]()


def _service(config: pytest.Config):
    """The session's grading service (``attnlab.running.service``): one zygote for every submission it grades."""
    from .running.service import GradingService

    if _SERVICE not in config.stash:
        config.stash[_SERVICE] = GradingService(start=False)
    return config.stash[_SERVICE]


def pytest_unconfigure(config: pytest.Config) -> None:
    service = config.stash.get(_SERVICE, None)
    if service is not None:
        service.close()
