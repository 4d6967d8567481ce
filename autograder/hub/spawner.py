"""The spawners of `attnlab hub`: who runs which Python, where, with which Jupyter configuration.

- A student's server runs `jupyterhub-singleuser` from the students' environment (the student build,
  never the grader), in the student's home, with the students' Jupyter configuration: the student id
  is the hub user name, and there is no formgrader or Create Assignment.
- The instructor's server runs the grader's environment (the full attnlab, nbgrader's formgrader) in
  the nbgrader course root, with the instructor's configuration.
- Each opens on a first page of its own (`first_page`): the instructor's on the formgrader, a student's on
  the welcome page in their home.

`TrialSpawner` runs every server as the hub's own OS user (JupyterHub's `SimpleLocalProcessSpawner`;
homes are folders of the course root; `--allow-root` where that user is root). `ClassSpawner` runs each
as its own account (`LocalProcessSpawner`, `--system-users`). Both read the hub's plan
(`<root>/hub/plan.json`), which `attnlab hub` writes.
"""

from __future__ import annotations

import os

from jupyterhub.spawner import LocalProcessSpawner, SimpleLocalProcessSpawner
from traitlets import Unicode, default

from .course_root import WELCOME, server_env
from .plan import HubPlan


def first_page(plan: HubPlan, name: str) -> str:
    """Where a person's server opens: the instructor in JupyterLab with the formgrader open (nbgrader's own
    `?formgrader=true` route); a student on the welcome page in their home while it is there, else JupyterLab."""
    if name == plan.instructor:
        return "/lab?formgrader=true"
    return f"/lab/tree/{WELCOME}" if (plan.home(name) / WELCOME).is_file() else "/lab"


class CourseSpawner(LocalProcessSpawner):
    """What both spawners share: the command, the folder and the environment of each person's server."""

    plan_file = Unicode(config=True, help="The hub's plan.json, written by `attnlab hub`.")

    @property
    def plan(self) -> HubPlan:
        return HubPlan.load(self.plan_file)

    def get_env(self):
        env = super().get_env()
        env.pop("PYTHONPATH", None)  # the hub's, which may name the grader's checkout
        env.update(server_env(self.plan, self.user.name))
        env["VIRTUAL_ENV"] = str(self.plan.bin(self.user.name).parent)
        return env

    async def start(self):
        plan, name = self.plan, self.user.name
        self.cmd = [str(plan.bin(name) / "jupyterhub-singleuser")]
        self.notebook_dir = str(plan.course_dir if name == plan.instructor else plan.home(name))
        self.default_url = first_page(plan, name)
        # jupyterhub-singleuser refuses to run as root unless told to; only the trial mode runs as root.
        self.args = ["--allow-root"] if os.geteuid() == 0 and not plan.system_users else []
        return await super().start()


class TrialSpawner(CourseSpawner, SimpleLocalProcessSpawner):
    """Every server as the hub's OS user, each in its own folder of the course root: not isolated."""

    @default("home_dir")
    def _home_in_course_root(self):
        return str(self.plan.home(self.user.name))


class ClassSpawner(CourseSpawner):
    """Each server as its person's own Unix account (`--system-users`)."""
