# hostile: leave a daemon behind (setsid and a double fork). It would live five minutes, writing a marker
# file into /tmp every second. Nothing of it may outlive grading, and the host's /tmp must stay clean.
import os
import sys
import time

MARKER = "@MARKER@"  # the test's own mark, in the daemon's command line and its file name
TRACE = f"/tmp/attnlab-daemon-{MARKER}"
DAEMON = f"""
import time
for _ in range(300):
    try:
        with open({TRACE!r}, "a") as f:
            f.write("still here\\n")
    except OSError:
        pass
    time.sleep(1)
"""
_started: list = []


def _daemonize() -> None:
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", DAEMON, MARKER])
        os._exit(0)
    os.waitpid(pid, 0)


_correct_qk_scores = qk_scores  # noqa: F821 - the base submission's


def qk_scores(q, k):
    if not _started:
        _daemonize()
        _started.append(True)
        for _ in range(40):  # wait until the daemon has written once, to show that it runs
            if os.path.exists(TRACE):
                break
            time.sleep(0.05)
        print(f"daemon started; its file exists: {os.path.exists(TRACE)}", flush=True)
    return _correct_qk_scores(q, k)
