"""`configure(c, plan_file)`: JupyterHub's configuration for a course, from the hub's plan.

`attnlab hub` writes `<root>/hub/jupyterhub_config.py` as two lines that call this, so that what the
hub runs with is code that the unit tests read (`tests/unit/test_hub_plan.py`), not a template.
"""

from __future__ import annotations

import os

from .plan import HubPlan, read_passwords


def configure(c, plan_file: str | os.PathLike) -> HubPlan:
    """Fill JupyterHub's config object `c` for the plan in `plan_file`; the plan."""
    plan = HubPlan.load(plan_file)
    c.JupyterHub.bind_url = f"http://{plan.ip}:{plan.port}"
    c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{plan.hub_api_port}"
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{plan.proxy_api_port}"
    c.ConfigurableHTTPProxy.command = [plan.proxy]
    c.ConfigurableHTTPProxy.pid_file = str(plan.hub_dir / "proxy.pid")
    c.JupyterHub.db_url = f"sqlite:///{plan.hub_dir / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(plan.hub_dir / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(plan.hub_dir / "jupyterhub.pid")

    # Only the course's people may log in; the instructor is the hub's admin.
    c.Authenticator.allowed_users = set(plan.people)
    c.Authenticator.admin_users = {plan.instructor}
    if plan.system_users:
        # Each account's own password, checked by PAM: one shared password would let any student log in as
        # any other, and so read their work.
        c.JupyterHub.authenticator_class = "pam"
        c.PAMAuthenticator.open_sessions = False  # no login session bookkeeping (systemd-logind) is needed
        c.JupyterHub.spawner_class = "attnlab.hub.spawner.ClassSpawner"
        c.ClassSpawner.plan_file = str(plan_file)
    else:
        logins = read_passwords(plan.passwords)
        c.JupyterHub.authenticator_class = "shared-password"
        c.SharedPasswordAuthenticator.user_password = logins[plan.students[0]]
        c.SharedPasswordAuthenticator.admin_password = logins[plan.instructor]
        c.JupyterHub.spawner_class = "attnlab.hub.spawner.TrialSpawner"
        c.TrialSpawner.plan_file = str(plan_file)

    c.Spawner.default_url = "/lab"
    # A small machine starting a server, JupyterLab and torch while others grade: be patient.
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 90
    return plan
