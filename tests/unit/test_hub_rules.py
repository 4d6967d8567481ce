"""`attnlab hub`'s rules, without a hub: the plan, the log-ins, JupyterHub's and nbgrader's configuration,
the owner check of collect and the refusals. Milliseconds each; tests/test_hub.py runs the real hub."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
from attnlab.course import load_course
from attnlab.hub import accounts, course_root
from attnlab.hub.hubconfig import configure
from attnlab.hub.plan import HubError, HubPlan, ensure_passwords, full_names, make_plan, read_passwords
from traitlets.config import Config


def plan(tmp_path: Path, system_users: bool = False, **kw) -> HubPlan:
    args = dict(root=tmp_path / "root", students="alice,bob", instructor="teacher", course_id="attnlab-attention")
    return make_plan(**{**args, **kw}, system_users=system_users)


@pytest.mark.parametrize(
    "students, instructor, says",
    [
        ("", "teacher", "--students is empty"),
        ("alice,Bob", "teacher", "'Bob' cannot be a log-in name"),
        ("alice,bo+b", "teacher", "'bo+b' cannot be a log-in name"),
        ("alice,<svg onload=alert(1)>", "teacher", "'<svg onload=alert(1)>' cannot be a log-in name"),  # shown by pages
        ("alice,alice", "teacher", "names 'alice' twice"),
        ("alice,teacher", "teacher", "both the instructor and a student"),
    ],
)
def test_a_bad_class_list_is_refused_with_the_name_to_fix(tmp_path, students, instructor, says):
    with pytest.raises(HubError, match=re.escape(says)):
        plan(tmp_path, students=students, instructor=instructor)


def test_a_port_out_of_range_is_refused(tmp_path):
    with pytest.raises(HubError, match="--port 70000 is not a port number"):
        plan(tmp_path, port=70000)


def test_the_plan_survives_its_json_file(tmp_path):
    p = plan(tmp_path, password_file=tmp_path / "pw")
    assert HubPlan.from_json(p.to_json()) == p


def test_trial_log_ins_are_one_student_password_and_a_long_instructor_one_in_a_private_file(tmp_path):
    p = plan(tmp_path)
    logins = ensure_passwords(p)
    assert logins["alice"] == logins["bob"] != logins["teacher"]
    assert len(logins["teacher"]) >= 32
    assert stat.S_IMODE(p.passwords.stat().st_mode) == 0o600
    assert read_passwords(p.passwords) == logins


def test_class_log_ins_are_one_password_per_person(tmp_path):
    logins = ensure_passwords(plan(tmp_path, system_users=True))
    assert len(set(logins.values())) == 3


def test_people_missing_from_the_log_ins_file_are_added_and_nothing_is_lost(tmp_path):
    file = tmp_path / "pw"
    file.write_text("# ours\nalice:student-pass-1\n")
    logins = ensure_passwords(plan(tmp_path, password_file=file))
    assert logins["alice"] == logins["bob"] == "student-pass-1"
    text = file.read_text()
    assert text.startswith("# ours\nalice:student-pass-1\n") and "bob:student-pass-1" in text


@pytest.mark.parametrize(
    "lines, system_users, says",
    [
        ("alice:aaaaaaaa1\nbob:bbbbbbbb2\n", False, "share one password"),
        ("teacher:short-but-8\n", False, "at least 32 characters"),
        ("alice:same-password\nbob:same-password\n", True, "alice and bob share a password"),
        ("alice:short\n", True, "shorter than 8"),
        ("alice\n", True, "expected 'name:password'"),
    ],
)
def test_log_ins_that_cannot_work_are_refused(tmp_path, lines, system_users, says):
    file = tmp_path / "pw"
    file.write_text(lines)
    with pytest.raises(HubError, match=says):
        ensure_passwords(plan(tmp_path, system_users=system_users, password_file=file))


def hub_config(tmp_path: Path, system_users: bool) -> tuple[Config, HubPlan]:
    p = plan(tmp_path, system_users=system_users)
    ensure_passwords(p)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(p.to_json())
    c = Config()
    configure(c, plan_file)
    return c, p


def test_trial_hub_uses_the_shared_password_log_in_and_one_os_user(tmp_path):
    c, p = hub_config(tmp_path, system_users=False)
    logins = read_passwords(p.passwords)
    assert c.JupyterHub.authenticator_class == "shared-password"
    assert c.SharedPasswordAuthenticator.user_password == logins["alice"]
    assert c.SharedPasswordAuthenticator.admin_password == logins["teacher"]
    assert c.JupyterHub.spawner_class == "attnlab.hub.spawner.TrialSpawner"
    assert c.Authenticator.allowed_users == {"alice", "bob", "teacher"}
    assert c.Authenticator.admin_users == {"teacher"}
    assert c.ConfigurableHTTPProxy.command == ["configurable-http-proxy"]


def test_class_hub_checks_each_account_with_pam_and_spawns_as_it(tmp_path):
    c, _ = hub_config(tmp_path, system_users=True)
    assert c.JupyterHub.authenticator_class == "pam"
    assert c.JupyterHub.spawner_class == "attnlab.hub.spawner.ClassSpawner"
    assert "user_password" not in c.SharedPasswordAuthenticator


def run_config(text: str, env: dict[str, str]) -> Config:
    """Run an nbgrader_config.py's text as nbgrader does, with `env` as os.environ."""
    c = Config()
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        exec(compile(text, "nbgrader_config.py", "exec"), {"get_config": lambda: c})
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return c


def test_a_students_nbgrader_id_is_the_hub_user_name_not_the_os_user(tmp_path):
    p = plan(tmp_path)
    c = run_config(course_root.student_config(p), {"JUPYTERHUB_USER": "alice", "USER": "root"})
    assert c.CourseDirectory.student_id == "alice"
    assert c.Exchange.root == str(p.exchange)
    assert "student_id" not in run_config(course_root.student_config(p), {}).CourseDirectory


def test_students_servers_leave_out_the_formgrader_and_create_assignment(tmp_path):
    import json

    p = plan(tmp_path)
    for folder in (p.config_dir("student"), p.config_dir("instructor"), p.course_dir):
        folder.mkdir(parents=True)
    (p.course_dir / "nbgrader_config.py").write_text("# the instructor's own\n")
    course_root.write_configs(p, course=None)
    student = p.config_dir("student")
    lab = json.loads((student / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert {"@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:formgrader"} <= set(lab)
    server = json.loads((student / "jupyter_server_config.json").read_text())["ServerApp"]["jpserver_extensions"]
    assert server["nbgrader.server_extensions.formgrader"] is False
    instructor = json.loads((p.config_dir("instructor") / "labconfig" / "page_config.json").read_text())
    assert "@jupyter/nbgrader:formgrader" not in instructor["disabledExtensions"]
    assert (p.course_dir / "nbgrader_config.py").read_text() == "# the instructor's own\n", "kept, not overwritten"


def test_every_server_may_be_framed_by_its_own_origin_and_nothing_looser(tmp_path):
    """JupyterLab embeds the instructor's formgrader, and follows a feedback page's links in its frame."""
    p = plan(tmp_path)
    for folder in (p.config_dir("student"), p.config_dir("instructor"), p.course_dir):
        folder.mkdir(parents=True)
    course_root.write_configs(p, load_course())
    for role in ("student", "instructor"):
        server = json.loads((p.config_dir(role) / "jupyter_server_config.json").read_text())["ServerApp"]
        assert server["tornado_settings"]["headers"] == {"Content-Security-Policy": "frame-ancestors 'self'"}


def test_the_instructor_is_offered_the_formgrader_and_no_course_list(tmp_path):
    """The course list would ask JupyterHub for a formgrader service this hub does not run."""
    p = plan(tmp_path)
    for folder in (p.config_dir("student"), p.config_dir("instructor"), p.course_dir):
        folder.mkdir(parents=True)
    course_root.write_configs(p, load_course())
    instructor = p.config_dir("instructor")
    lab = json.loads((instructor / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert "@jupyter/nbgrader:course-list" in lab and "@jupyter/nbgrader:formgrader" not in lab
    server = json.loads((instructor / "jupyter_server_config.json").read_text())["ServerApp"]["jpserver_extensions"]
    assert server["nbgrader.server_extensions.course_list"] is False


# ------------------------------------------------------------------------------------------- the first log-in


def test_each_student_finds_a_welcome_page_that_is_never_written_over(tmp_path):
    p = plan(tmp_path)
    course_root.make_folders(p)
    page = p.home("alice") / course_root.WELCOME
    assert "Assignment List" in page.read_text() and p.course_id in page.read_text()
    assert not (p.home("teacher") / course_root.WELCOME).exists()
    page.write_text("my notes")
    assert course_root.write_welcome(p, "alice") is False and page.read_text() == "my notes"


def test_the_instructor_opens_on_the_formgrader_and_a_student_on_the_welcome_page_while_it_is_there(tmp_path):
    from attnlab.hub.spawner import first_page

    p = plan(tmp_path)
    course_root.make_folders(p)
    assert first_page(p, "teacher") == "/lab?formgrader=true"
    assert first_page(p, "alice") == "/lab/tree/WELCOME.md"
    (p.home("alice") / course_root.WELCOME).unlink()
    assert first_page(p, "alice") == "/lab"


def test_students_jupyterlab_opens_markdown_as_the_page_it_renders(tmp_path):
    p = plan(tmp_path)
    course_root._student_lab_settings(p)
    settings = json.loads((p.student_env / "share/jupyter/lab/settings/overrides.json").read_text())
    assert settings["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"] == {"markdown": "Markdown Preview"}


def test_the_log_ins_file_may_give_each_persons_name(tmp_path):
    file = tmp_path / "pw"
    file.write_text("alice:student-pass-1:Ada   King Lovelace\nbob:student-pass-1\nteacher:" + "t" * 44 + "\n")
    p = plan(tmp_path, password_file=file)
    assert ensure_passwords(p)["alice"] == "student-pass-1"  # the name is not part of the password
    assert read_passwords(file)["alice"] == "student-pass-1"
    assert full_names(p) == {"alice": ("Ada King", "Lovelace"), "bob": ("", "bob")}


def test_the_gradebook_learns_the_names_once_and_again_when_they_change(tmp_path, monkeypatch):
    from attnlab.nbgrader import steps as nbgrader_steps

    ran = []

    def fake_run_steps(steps, env, timeout=900, user=None):
        ran.append([args for _, args in steps])
        return [subprocess.CompletedProcess(["nbgrader", *args], 0, "", "") for _, args in steps]

    monkeypatch.setattr(nbgrader_steps, "run_steps", fake_run_steps)
    file = tmp_path / "pw"
    file.write_text("alice:student-pass-1:Ada Lovelace\n")
    p = plan(tmp_path, password_file=file)
    p.hub_dir.mkdir(parents=True)
    assert course_root.register_students(p, say=lambda _: None) is True
    assert ran[-1] == [
        ["db", "student", "add", "alice", "--first-name=Ada", "--last-name=Lovelace"],
        ["db", "student", "add", "bob", "--first-name=", "--last-name=bob"],
    ]
    assert course_root.register_students(p, say=lambda _: None) is False and len(ran) == 1
    file.write_text("alice:student-pass-1:Ada King\n")
    assert course_root.register_students(p, say=lambda _: None) is True and "--first-name=Ada" in ran[-1][0]


@pytest.mark.parametrize("system_users", [False, True])
def test_collect_checks_owners_only_where_students_have_accounts(tmp_path, system_users):
    c = run_config(course_root.instructor_config(plan(tmp_path, system_users=system_users)), {})
    assert c.ExchangeFactory.collect == "attnlab.hub.collect.CourseCollect"  # plain ids only, in both modes
    if system_users:
        assert "check_owner" not in c.ExchangeCollect  # nbgrader's default, on: CourseCollect skips forgeries
    else:
        assert c.ExchangeCollect.check_owner is False
    assert c.CourseDirectory.root == str(tmp_path / "root" / "course")


@pytest.mark.parametrize("system_users", [False, True])
def test_the_instructors_server_shows_students_notebooks_inert_and_guards_the_formgrader(tmp_path, system_users):
    p = plan(tmp_path, system_users=system_users)
    c = run_config(course_root.instructor_config(p), {})
    assert c.HTMLExporter.preprocessors == ["attnlab.nbgrader.InertPage"]
    assert c.HTMLExporter.sanitize_html is True
    course_root.make_folders(p)
    course_root.write_configs(p, load_course())
    server = json.loads((p.config_dir("instructor") / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["jpserver_extensions"]["attnlab.formgrader_guard"] is True


def test_each_server_runs_its_own_python_first_on_path(tmp_path):
    p = plan(tmp_path)
    student, teacher = course_root.server_env(p, "alice"), course_root.server_env(p, "teacher")
    assert student["PATH"].startswith(str(p.student_env / "bin") + os.pathsep)
    assert teacher["PATH"].startswith(str(p.grader_prefix / "bin") + os.pathsep)  # alembic is found there
    assert student["JUPYTER_CONFIG_PATH"] == str(p.config_dir("student"))
    assert teacher["JUPYTER_CONFIG_PATH"] == str(p.config_dir("instructor"))


# --------------------------------------------------------------------------------------- collect's owner check


class FakeCollect:
    """What CourseCollect's rules read of nbgrader's ExchangeCollect."""

    def __init__(self, inbound: Path):
        from attnlab.hub.collect import CourseCollect

        self.inbound_path = str(inbound)
        self.coursedir = type("CD", (), {"assignment_id": "lesson1"})()
        self.warnings: list[str] = []
        self.log = type("Log", (), {"warning": lambda _, msg, *a: self.warnings.append(msg % a)})()
        for name in ("_own", "_plain", "_path_to_record", "_sort_by_timestamp"):
            setattr(self, name, getattr(CourseCollect, name).__get__(self))


def test_a_forged_later_submission_is_skipped_and_the_students_own_is_collected(tmp_path, monkeypatch):
    from attnlab.hub import collect

    own = "bob+lesson1+2026-11-27 10:00:00.000000 UTC+abc"
    forged = "bob+lesson1+2099-01-01 00:00:00.000000 UTC+forged"
    for name in (own, forged):
        (tmp_path / name).mkdir()
    owners = {own: "bob", forged: "alice"}
    monkeypatch.setattr(collect, "owner", lambda path: owners[Path(path).name])
    fake = FakeCollect(tmp_path)
    kept = fake._own(fake._path_to_record(str(tmp_path / forged)))
    assert kept["filename"] == own
    assert fake.warnings == [f"Skipping {tmp_path / forged}: it claims to be bob's but alice made it"]
    owners[own] = "alice"
    assert fake._own(fake._path_to_record(str(tmp_path / forged))) is None


def test_a_submission_whose_student_id_is_not_plain_is_skipped_and_named(tmp_path):
    hostile = "<svg onload=alert(1)>+lesson1+2026-11-27 10:00:00.000000 UTC+abc"
    plain = "bob+lesson1+2026-11-27 10:00:00.000000 UTC+abc"
    fake = FakeCollect(tmp_path)
    assert fake._plain(fake._path_to_record(str(tmp_path / plain)))
    assert not fake._plain(fake._path_to_record(str(tmp_path / hostile)))
    assert fake.warnings == [
        f"Skipping {tmp_path / hostile}: its student id '<svg onload=alert(1)>' is not a plain id "
        "(letters, digits, '.', '@', '_', '-')"
    ]


# -------------------------------------------------------------------------------------------------- refusals


def test_system_users_without_root_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(HubError, match="needs root; run it as root, or leave --system-users out"):
        accounts.require_root()


def test_a_course_root_or_python_behind_a_closed_folder_is_refused():
    top = Path(tempfile.mkdtemp(dir="/tmp"))  # not pytest's tmp_path, which is itself closed (0700)
    top.chmod(0o755)
    closed = top / "closed"
    (closed / "inside").mkdir(parents=True)
    closed.chmod(0o700)
    try:
        assert accounts.closed_folder(closed / "inside" / "python") == closed
        with pytest.raises(HubError, match=f"students cannot reach .*: {closed} is closed"):
            accounts.check_reachable(plan(closed / "inside", system_users=True))
    finally:
        shutil.rmtree(top)


def test_attnlab_hub_reports_a_bad_option_in_one_line_and_exit_code_2(tmp_path, capsys):
    from attnlab.cli import main

    assert main(["hub", "--course-root", str(tmp_path), "--students", "alice,Alice"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "attnlab: 'Alice' cannot be a log-in name: use lowercase letters, digits, '_' or '-', starting with a letter"
    ]


def test_students_python_pins_the_graders_torch_and_jupyterhub():
    from importlib import metadata

    pins = course_root.student_packages()
    assert f"torch=={metadata.version('torch')}" in pins  # check() computes with the torch that grades
    assert f"jupyterhub=={metadata.version('jupyterhub')}" in pins  # the hub and its servers agree


def test_only_accounts_attnlab_made_get_their_password_from_the_log_ins_file(tmp_path, monkeypatch):
    import types

    p = plan(tmp_path, system_users=True, students="alice,bob")
    p.hub_dir.mkdir(parents=True)
    existing = {"alice": 1001}  # alice had an account before attnlab hub; bob and teacher do not
    ran: list[tuple[list[str], str | None]] = []

    def getpwnam(name):
        if name not in existing:
            raise KeyError(name)
        return types.SimpleNamespace(pw_uid=existing[name], pw_gid=existing[name], pw_dir=str(tmp_path / name))

    def run(cmd, stdin=None):
        ran.append((cmd, stdin))
        if cmd[0] == "useradd":
            existing[cmd[-1]] = 2000 + len(existing)

    monkeypatch.setattr(accounts.pwd, "getpwnam", getpwnam)
    monkeypatch.setattr(accounts, "_run", run)
    monkeypatch.setattr(accounts.os, "chown", lambda *a, **k: None)
    logins = {"alice": "alice-password", "bob": "bob-password", "teacher": "t" * 44}
    assert accounts.ensure_accounts(p, logins) == {"alice"}
    assert [cmd[-1] for cmd, _ in ran if cmd[0] == "useradd"] == ["bob", "teacher"]
    assert [stdin for cmd, stdin in ran if cmd[0] == "chpasswd"] == [f"bob:bob-password\nteacher:{'t' * 44}\n"]
    ran.clear()
    assert accounts.ensure_accounts(p, logins) == {"alice"}  # a restart: the accounts it made are still its own
    assert [stdin for cmd, stdin in ran if cmd[0] == "chpasswd"] == [f"bob:bob-password\nteacher:{'t' * 44}\n"]


def test_no_submission_or_collect_takes_editors_leftovers(tmp_path):
    from attnlab.exchange import EDITOR_LEFTOVERS

    p = plan(tmp_path)
    student = run_config(course_root.student_config(p), {"JUPYTERHUB_USER": "alice"})
    instructor = run_config(course_root.instructor_config(p), {})
    assert student.CourseDirectory.ignore == instructor.CourseDirectory.ignore == EDITOR_LEFTOVERS
    assert student.ExchangeFactory.submit == "attnlab.exchange.CourseSubmit"


def test_students_fetch_feedback_into_folders_without_spaces_that_their_assignment_list_finds(tmp_path):
    from nbgrader.exchange.abc import ExchangeFetchFeedback, ExchangeList
    from traitlets.utils.importstring import import_item

    student = run_config(course_root.student_config(plan(tmp_path)), {"JUPYTERHUB_USER": "alice"})
    assert issubclass(import_item(student.ExchangeFactory.fetch_feedback), ExchangeFetchFeedback)
    assert issubclass(import_item(student.ExchangeFactory.list), ExchangeList)
    assert student.ExchangeFactory.list == "attnlab.exchange.CourseList"  # the two go together
