"""deploy/ (Kubernetes with Zero-to-JupyterHub), checked without a cluster, Docker or network.

Nothing here builds an image or talks to Kubernetes: these tests read the files, run the Python that the
hub and nbgrader would run against stand-ins, and hold the files to what the README says of them and to
each other (names, paths and versions that must agree across files).
"""

from __future__ import annotations

import copy
import json
import re
import sys
import types
from pathlib import Path

import pytest
import yaml
from traitlets.config import Config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PYPROJECT = DEPLOY.parent / "pyproject.toml"
EXCHANGE = "/srv/nbgrader/exchange"
COURSE_ID = "attnlab-attention"

STUDENT_DISABLED_LAB = {
    "@jupyterlab/apputils-extension:announcements",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:course-list",
}
STUDENT_DISABLED_SERVER = {"nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list"}


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load((DEPLOY / "values.yaml").read_text(encoding="utf-8"))


def run_config(path: Path) -> Config:
    """The traitlets config that the Python config file at `path` builds, as nbgrader would load it."""
    config = Config()
    code = compile(path.read_text(encoding="utf-8"), str(path), "exec")
    exec(code, {"get_config": lambda: config, "__file__": str(path)})
    return config


def instructions(dockerfile: str, name: str) -> list[str]:
    """The arguments of every `name` instruction (COPY, RUN...) in a Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.split(None, 1)[:1] == [name]]


def copy_sources(dockerfile: str) -> list[str]:
    """What each COPY or ADD takes from the build context (its options and its destination left out)."""
    sources = []
    for name in ("COPY", "ADD"):
        for args in instructions(dockerfile, name):
            words = [w for w in args.split() if not w.startswith("--")]
            sources += words[:-1]
    return sources


def torch_spec(dockerfile: str) -> str:
    (spec,) = [a.split("=", 1)[1].strip('"') for a in instructions(dockerfile, "ARG") if a.startswith("TORCH_SPEC=")]
    return spec


# ---------------------------------------------------------------------------------------------- values.yaml


def test_the_values_name_the_student_image_and_open_jupyterlab(values):
    singleuser = values["singleuser"]
    assert singleuser["image"]["name"] and singleuser["image"]["tag"]
    assert singleuser["defaultUrl"] == "/lab"
    assert singleuser["cmd"] == "jupyterhub-singleuser"
    assert singleuser["memory"]["limit"] and singleuser["cpu"]["limit"]


def test_every_server_gets_an_origin_of_its_own_under_the_hubs_domain(values):
    from urllib.parse import urlsplit

    config = values["hub"]["config"]
    host = urlsplit(config["JupyterHub"]["subdomain_host"])
    assert host.scheme == "https" and not host.path.strip("/")
    assert host.hostname == urlsplit(config["GenericOAuthenticator"]["oauth_callback_url"]).hostname


def test_every_pod_mounts_the_exchange_from_a_read_write_many_claim(values):
    storage = values["singleuser"]["storage"]
    (mount,) = [m for m in storage["extraVolumeMounts"] if m["mountPath"] == EXCHANGE]
    (volume,) = [v for v in storage["extraVolumes"] if v["name"] == mount["name"]]
    claims = {c["metadata"]["name"]: c for c in yaml.safe_load_all((DEPLOY / "volumes.yaml").read_text()) if c}
    claim = claims[volume["persistentVolumeClaim"]["claimName"]]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert values["custom"]["attnlab"]["courseClaim"] in claims


def test_the_instructor_is_an_admin_and_allowed_and_nobody_logs_in_with_a_shared_password(values):
    config = values["hub"]["config"]
    instructor = values["custom"]["attnlab"]["instructor"]
    assert instructor in config["Authenticator"]["admin_users"]
    assert instructor in config["Authenticator"]["allowed_users"]
    assert "shared" not in config["JupyterHub"]["authenticator_class"].lower()
    assert "dummy" not in config["JupyterHub"]["authenticator_class"].lower()


def test_the_secret_seed_never_reaches_the_students_pods(values):
    assert "ATTNLAB_SECRET_SEED" not in values["singleuser"].get("extraEnv", {})


def test_every_hub_extra_config_snippet_compiles(values):
    snippets = values["hub"]["extraConfig"]
    assert snippets
    for name, source in snippets.items():
        compile(source, f"hub.extraConfig.{name}", "exec")


def kubespawner_volumes(values: dict, shape: type) -> tuple:
    """The volumes and volume mounts that Z2JH 4 gives KubeSpawner (dicts keyed by name), or as lists."""
    storage = values["singleuser"]["storage"]
    volumes = {"home": {"name": "home"}} | {v["name"]: v for v in storage["extraVolumes"]}
    mounts = {"home": {"name": "home", "mountPath": "/home/jovyan"}}
    mounts |= {f"{i}-{m['name']}": m for i, m in enumerate(storage["extraVolumeMounts"])}
    return (volumes, mounts) if shape is dict else (list(volumes.values()), list(mounts.values()))


def spawner(name: str, values: dict, volumes, mounts) -> types.SimpleNamespace:
    """A stand-in KubeSpawner as Z2JH configures it from `values`, for a user called `name`."""
    image = values["singleuser"]["image"]
    return types.SimpleNamespace(
        user=types.SimpleNamespace(name=name),
        image=f"{image['name']}:{image['tag']}",
        volumes=volumes,
        volume_mounts=mounts,
        mem_limit=values["singleuser"]["memory"]["limit"],
        cpu_limit=float(values["singleuser"]["cpu"]["limit"]),
    )


def listed(items) -> list:
    return list(items.values()) if isinstance(items, dict) else list(items)


@pytest.fixture()
def pre_spawn_hook(values, monkeypatch):
    """The hook that hub.extraConfig installs, run as in the hub, with Z2JH's z2jh module stood in for."""
    z2jh = types.ModuleType("z2jh")

    def get_config(key, default=None):
        node = values
        for part in key.split("."):
            node = node.get(part, default) if isinstance(node, dict) else default
        return node

    z2jh.get_config = get_config
    monkeypatch.setitem(sys.modules, "z2jh", z2jh)
    c = Config()
    exec(values["hub"]["extraConfig"]["attnlab-roles"], {"c": c})
    return c.KubeSpawner.pre_spawn_hook


@pytest.mark.parametrize("shape", [dict, list])
def test_the_instructor_gets_the_grader_image_and_the_course_volume_once_at_every_start(values, pre_spawn_hook, shape):
    teacher = spawner(values["custom"]["attnlab"]["instructor"], values, *kubespawner_volumes(values, shape))
    for _ in range(2):  # JupyterHub keeps a user's spawner across restarts
        pre_spawn_hook(teacher)
    assert teacher.image == values["custom"]["attnlab"]["graderImage"]
    course = [
        v for v in listed(teacher.volumes) if v.get("persistentVolumeClaim", {}).get("claimName") == "attnlab-course"
    ]
    assert len(course) == 1
    (mount,) = [m for m in listed(teacher.volume_mounts) if m["name"] == course[0]["name"]]
    assert mount["mountPath"] == run_config(DEPLOY / "grader-config" / "nbgrader_config.py").CourseDirectory.root
    assert EXCHANGE in {m["mountPath"] for m in listed(teacher.volume_mounts)}
    assert teacher.mem_limit == values["custom"]["attnlab"]["graderMemoryLimit"]


@pytest.mark.parametrize("shape", [dict, list])
def test_a_student_keeps_the_student_image_and_never_gets_the_course_volume(values, pre_spawn_hook, shape):
    # The same volume objects in both spawners: the instructor's start must not change what students get.
    volumes, mounts = kubespawner_volumes(values, shape)
    teacher = spawner(values["custom"]["attnlab"]["instructor"], values, volumes, mounts)
    alice = spawner("alice", values, volumes, mounts)
    before = copy.deepcopy(vars(alice))
    pre_spawn_hook(teacher)
    pre_spawn_hook(alice)
    assert vars(alice) == before


def test_the_instructors_course_root_lies_inside_the_server_root_as_the_formgrader_requires():
    config = run_config(DEPLOY / "grader-config" / "nbgrader_config.py")
    assert config.CourseDirectory.root.startswith("/home/jovyan/")
    assert config.CourseDirectory.course_id == COURSE_ID
    assert config.Exchange.root == EXCHANGE


def test_neither_submit_nor_collect_takes_editors_leftovers():
    from attnlab.exchange import EDITOR_LEFTOVERS

    student = run_config(DEPLOY / "student-config" / "nbgrader_config.py")
    grader = run_config(DEPLOY / "grader-config" / "nbgrader_config.py")
    assert student.CourseDirectory.ignore == grader.CourseDirectory.ignore == EDITOR_LEFTOVERS
    assert student.ExchangeFactory.submit == "attnlab.exchange.CourseSubmit"


def test_the_instructors_collect_skips_student_ids_that_are_not_plain():
    from attnlab.hub.collect import CourseCollect

    config = run_config(DEPLOY / "grader-config" / "nbgrader_config.py")
    assert config.ExchangeFactory.collect == "attnlab.hub.collect.CourseCollect" and CourseCollect
    assert config.ExchangeCollect.check_owner is False  # every pod is jovyan: ownership proves nothing


# ------------------------------------------------------------------------------------------------ the images


def test_both_images_servers_may_be_framed_by_their_own_origin_and_the_instructor_has_no_course_list():
    """As under `attnlab hub`: JupyterLab embeds the formgrader, and a feedback page's links work in its viewer."""
    from attnlab.hub.course_root import FRAMES, INSTRUCTOR_DISABLED_LAB

    for role in ("student", "grader"):
        server = json.loads((DEPLOY / f"{role}-config" / "jupyter_server_config.json").read_text())["ServerApp"]
        assert server["tornado_settings"]["headers"] == {"Content-Security-Policy": FRAMES}, role
    grader = json.loads((DEPLOY / "grader-config" / "jupyter_server_config.json").read_text())["ServerApp"]
    assert grader["jpserver_extensions"] == {"nbgrader.server_extensions.course_list": False}
    lab = json.loads((DEPLOY / "grader-config" / "page_config.json").read_text())["disabledExtensions"]
    assert set(lab) == set(INSTRUCTOR_DISABLED_LAB)
    dockerfile = (DEPLOY / "grader.Dockerfile").read_text(encoding="utf-8")
    assert "deploy/grader-config/jupyter_server_config.json" in copy_sources(dockerfile)


def test_the_grader_image_checks_that_the_formgrader_guard_is_enabled():
    runs = instructions((DEPLOY / "grader.Dockerfile").read_text(encoding="utf-8"), "RUN")
    assert any('jupyter server extension list 2>&1 | grep -q "attnlab.formgrader_guard"' in run for run in runs)


def test_the_student_image_installs_the_student_wheel_and_never_the_repository():
    dockerfile = (DEPLOY / "student.Dockerfile").read_text(encoding="utf-8")
    sources = copy_sources(dockerfile)
    assert "dist/student/attnlab-*.whl" in sources
    assert "." not in sources and "./" not in sources
    assert not [s for s in sources if "reference" in s or "answers" in s or "assignments" in s]
    assert all(s.startswith(("dist/student/", "deploy/student-config/")) for s in sources), sources
    assert any("find_spec('attnlab.reference') is None" in run for run in instructions(dockerfile, "RUN"))


def test_the_student_build_context_holds_only_the_wheel_and_the_student_config():
    rules = [
        line.strip()
        for line in (DEPLOY / "student.Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"
    assert all(r.startswith(("!dist/student/", "!deploy/student-config/")) for r in rules[1:]), rules


def test_both_images_put_etc_jupyter_first_and_start_from_the_same_base():
    student = (DEPLOY / "student.Dockerfile").read_text(encoding="utf-8")
    grader = (DEPLOY / "grader.Dockerfile").read_text(encoding="utf-8")
    for dockerfile in (student, grader):
        # Else nbgrader's own jupyter_server_config.d in the conda prefix re-enables the formgrader.
        assert "JUPYTER_CONFIG_PATH=/etc/jupyter" in instructions(dockerfile, "ENV")
        assert "https://download.pytorch.org/whl/cpu" in " ".join(instructions(dockerfile, "ARG"))
    assert instructions(student, "FROM") == instructions(grader, "FROM")


def test_the_images_preinstall_torch_within_attnlabs_own_bounds():
    # Else pip, installing attnlab after, would replace the CPU build with PyPI's CUDA one.
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (requirement,) = [r for r in dependencies if r.startswith("torch")]
    for name in ("student.Dockerfile", "grader.Dockerfile"):
        assert torch_spec((DEPLOY / name).read_text(encoding="utf-8")) == requirement, name


# -------------------------------------------------------------------------------------- the students' config


def test_the_student_lab_config_disables_exactly_create_assignment_formgrader_course_list_and_news():
    page = json.loads((DEPLOY / "student-config" / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"] == dict.fromkeys(STUDENT_DISABLED_LAB, True)


def test_the_student_server_config_disables_exactly_the_formgrader_and_course_list_extensions():
    server = json.loads((DEPLOY / "student-config" / "jupyter_server_config.json").read_text())["ServerApp"]
    assert server["jpserver_extensions"] == dict.fromkeys(STUDENT_DISABLED_SERVER, False)
    assert set(server) == {"jpserver_extensions", "tornado_settings"}  # and frame-ancestors (the test above)


def test_students_submit_under_their_hub_user_name_not_as_jovyan(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    config = run_config(DEPLOY / "student-config" / "nbgrader_config.py")
    assert config.CourseDirectory.student_id == "alice"
    assert config.CourseDirectory.course_id == COURSE_ID
    assert config.Exchange.root == EXCHANGE


def test_outside_the_hub_the_student_config_leaves_the_student_id_to_nbgrader(monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    config = run_config(DEPLOY / "student-config" / "nbgrader_config.py")
    assert "student_id" not in config.CourseDirectory


def test_students_fetch_feedback_into_folders_without_spaces_that_their_assignment_list_finds():
    from nbgrader.exchange.abc import ExchangeFetchFeedback, ExchangeList
    from traitlets.utils.importstring import import_item

    student = run_config(DEPLOY / "student-config" / "nbgrader_config.py")
    assert issubclass(import_item(student.ExchangeFactory.fetch_feedback), ExchangeFetchFeedback)
    assert student.ExchangeFactory.list == "attnlab.exchange.CourseList"  # the two go together
    assert issubclass(import_item(student.ExchangeFactory.list), ExchangeList)
