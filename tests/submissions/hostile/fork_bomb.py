# hostile: a fork bomb inside a task: 500 tries at starting a child that sleeps for five minutes, then a
# correct answer. The process limit must cap the children, and none may outlive grading.
import os

MARKER = "@MARKER@"  # the test's own mark, in every child's command line
TRIES = 500
_forked: list = []


def _bomb() -> int:
    forked = 0
    for _ in range(TRIES):
        try:  # posix_spawn (vfork and exec) rather than os.fork: 500 tries fit well inside the time limit
            os.posix_spawn("/bin/sleep", [f"sleep-{MARKER}", "300"], {})
            forked += 1
        except OSError:
            pass
    return forked


_correct_qk_scores = qk_scores  # noqa: F821 - the base submission's


def qk_scores(q, k):
    if not _forked:
        _forked.append(_bomb())
        print(f"fork bomb: {_forked[0]} of {TRIES} children started", flush=True)
    return _correct_qk_scores(q, k)
