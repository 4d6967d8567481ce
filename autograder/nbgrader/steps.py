"""Several `nbgrader ...` commands in one Python process: what the command line does, minus a start each.

`python -m nbgrader ARGS` is `NbGraderApp.launch_instance()`: make the app, `initialize(ARGS)` (which
reads the nbgrader_config.py in the working folder), `start()`, exit with the app's code. The tests
drive a course through a dozen or more such commands, and each would pay an interpreter start and
nbgrader's, torch's and attnlab's imports (seconds each on a small machine). Here one child process
runs a list of them with nbgrader's own app, one after the other, each from its own working folder,
and resets the app between them as nbgrader's own test helper does (``nbgrader.tests.run_nbgrader``).
It is the same code path as the command line, and the one nbgrader's formgrader takes when it
autogrades in its server process: several commands in one long-lived process.

Each command's stdout and stderr (its log, where a broken nbgrader_config.py would be reported) are
captured at the file-descriptor level into files of their own and handed back as a
``subprocess.CompletedProcess``, so a test reads them as it would read a command's.

The child is a separate process, not the caller: attnlab's nbgrader plugin keeps a grader child
and a seed for the whole run, and nbgrader's config file changes ``os.environ``; all of that ends with
the child, as it does with ``nbgrader`` itself. `attnlab hub` sets its course up this way (generate and
release every lesson, as the instructor's account under ``--system-users``), and the tests drive
nbgrader's cycle with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def run_steps(
    steps: list[tuple[Path, list[str]]], env: dict, timeout: float = 900, user: str | None = None
) -> list[subprocess.CompletedProcess]:
    """Run each `nbgrader *args` in its folder, in order, in one child: a CompletedProcess for each.

    `user`: the account the child runs as (the caller must be root); by default the caller's.
    Raises RuntimeError, with the child's output, when the child itself dies.
    """
    with tempfile.TemporaryDirectory(prefix="attnlab-nbgrader-steps-") as tmp:
        spec = Path(tmp, "steps.json")
        spec.write_text(
            json.dumps({"out": tmp, "steps": [{"cwd": str(cwd), "args": list(args)} for cwd, args in steps]})
        )
        account = {}
        if user is not None:
            import pwd

            os.chmod(tmp, 0o777)  # the child writes its outputs here as `user`
            gid = pwd.getpwnam(user).pw_gid
            account = {"user": user, "group": gid, "extra_groups": os.getgrouplist(user, gid)}
        child = subprocess.run(
            [sys.executable, "-m", "attnlab.nbgrader.steps", str(spec)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            **account,
        )
        done = []
        for i, (_, args) in enumerate(steps):
            code = Path(tmp, f"{i}.rc")
            if not code.exists():  # the child itself died
                break
            done.append(
                subprocess.CompletedProcess(
                    ["nbgrader", *args],
                    int(code.read_text()),
                    Path(tmp, f"{i}.out").read_text(errors="replace"),
                    Path(tmp, f"{i}.err").read_text(errors="replace"),
                )
            )
    if child.returncode != 0 or len(done) != len(steps):
        raise RuntimeError(f"the nbgrader child failed:\n{child.stdout[-3000:]}\n{child.stderr[-6000:]}")
    return done


def _run_one(args: list[str]) -> int:
    """What `python -m nbgrader *args` does, with the exit code returned rather than exited with."""
    from jupyter_core.application import NoStart
    from jupyter_core.utils import ensure_event_loop
    from nbgrader.apps.nbgraderapp import NbGraderApp

    ensure_event_loop()  # as JupyterApp.launch_instance does
    app = NbGraderApp.instance()
    try:
        app.initialize(args)
        app.start()
    except NoStart:  # how a Jupyter app says that its subcommand's app ran
        return 0
    except SystemExit as e:  # app.fail() and argument errors exit
        code = e.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        app.reset()  # the app, its subcommand's app and traitlets' logger are made anew for the next one
    return 0


def _main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    out = spec["out"]
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    env = dict(os.environ)
    for i, step in enumerate(spec["steps"]):
        os.chdir(step["cwd"])
        os.environ.clear()  # each command starts from the same environment, as a fresh process would
        os.environ.update(env)
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, name in ((1, f"{i}.out"), (2, f"{i}.err")):
            with open(os.path.join(out, name), "wb") as f:
                os.dup2(f.fileno(), fd)
        try:
            code = _run_one(step["args"])
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, saved_fd in saved.items():
                os.dup2(saved_fd, fd)
        Path(out, f"{i}.rc").write_text(str(code))


if __name__ == "__main__":
    _main(sys.argv[1])
