"""How fast `attnlab hub` answers on its log-in page once installed, next to a bare JupyterHub.

    python benchmarks/hub_start.py [--repeat 5] [--course-root DIR]

The first `attnlab hub` in a course root sets it up (lessons released, the students' Python built:
about a minute) and is not timed. Then, alternately, `--repeat` times each:

- `attnlab hub`: from the command's start to the first 200 from `/hub/login`, then SIGTERM;
- a bare `jupyterhub` with the same proxy and a dummy log-in, nothing of attnlab: the same.

It prints the medians and their ratio to the bare hub. The issue's target: under 10 s for `attnlab hub`.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from attnlab.hub.launch import free_port
from rich.console import Console
from rich.table import Table

BARE_CONFIG = """c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.db_url = "sqlite:///{dir}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{dir}/cookie_secret"
"""


def time_to_login(cmd: list[str], port: int, cwd: Path, timeout: float = 180) -> float:
    """Seconds from starting `cmd` to a 200 from its log-in page; the process is stopped after."""
    log = open(cwd / f"bench-{port}.log", "w")
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while time.monotonic() - start < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[2:4]} exited; see {log.name}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/hub/login", timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - start
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{cmd[2:4]} did not answer in {timeout} s; see {log.name}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--course-root", default=None, help="an existing or new course root (default: a temporary one)")
    args = parser.parse_args()
    console = Console()
    work = Path(tempfile.mkdtemp(prefix="attnlab-hub-bench-", dir="/var/tmp"))
    root = Path(args.course_root) if args.course_root else work / "course"

    def attnlab_hub(port: int) -> list[str]:
        return [sys.executable, "-m", "attnlab.cli", "hub", "--course-root", str(root), "--port", str(port)]

    with console.status("setting the course root up (once; not timed)"):
        port = free_port()
        setup = subprocess.Popen(attnlab_hub(port), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in setup.stdout:
            if line.startswith("Ready:"):
                break
        setup.send_signal(signal.SIGTERM)
        setup.wait(timeout=60)

    times: dict[str, list[float]] = {"attnlab hub": [], "bare jupyterhub": []}
    for i in range(args.repeat):
        with console.status(f"run {i + 1} of {args.repeat}"):
            port = free_port()
            times["attnlab hub"].append(time_to_login(attnlab_hub(port), port, work))
            port, bare = free_port(), work / f"bare-{i}"
            bare.mkdir()
            (bare / "jupyterhub_config.py").write_text(
                BARE_CONFIG.format(port=port, hub_port=free_port(), api_port=free_port(), dir=bare)
            )
            times["bare jupyterhub"].append(
                time_to_login(
                    [sys.executable, "-m", "jupyterhub", "-f", str(bare / "jupyterhub_config.py")], port, bare
                )
            )
    base = statistics.median(times["bare jupyterhub"])
    table = Table("command", "median s", "ratio", "runs", title=f"to the log-in page, median of {args.repeat}")
    for name, values in times.items():
        median = statistics.median(values)
        table.add_row(name, f"{median:.2f}", f"{median / base:.2f}x", " ".join(f"{v:.2f}" for v in values))
    console.print(table)
    shutil.rmtree(work, ignore_errors=True)  # the course root too, unless --course-root named one elsewhere


if __name__ == "__main__":
    main()
