# hostile: plant files that look like a perfect grade (and a .pth, which Python would run at start-up) in
# the working folder, $HOME, /tmp, the Python runtime and next to the submission, at import and in a task.
# Nothing may appear outside the worker, and the grades must not move.
import json
import os
import sysconfig
import tempfile

MARKER = "@MARKER@"  # the test's own mark, in every file name
FAKE = json.dumps({"schema": "attnlab.grade/1", "total": 100.0, "max_total": 100.0,
                   "tasks": [{"id": "qk_scores", "score": 15.0, "max_score": 15.0, "status": "passed"}]})


def _plant() -> None:
    places = [os.getcwd(), os.path.expanduser("~"), "/tmp", tempfile.gettempdir(), sysconfig.get_paths()["purelib"],
              os.path.dirname(os.path.abspath(__file__)), os.path.join(os.getcwd(), "..")]
    for folder in dict.fromkeys(places):
        for name, text in ((f"attnlab-result-{MARKER}.json", FAKE), (f"attnlab_planted_{MARKER}.pth", "# planted\n")):
            path = os.path.normpath(os.path.join(folder, name))
            try:
                with open(path, "w") as f:
                    f.write(text)
                print(f"planted: {path}", flush=True)
            except OSError as e:
                print(f"refused: {path}: {e.strerror}", flush=True)


_plant()
_correct_qk_scores = qk_scores  # noqa: F821 - the base submission's


def qk_scores(q, k):
    _plant()
    return _correct_qk_scores(q, k)
