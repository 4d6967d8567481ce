# hostile: read nbgrader's hidden tests back and raise them from a task, so that they land in the feedback
# ("your code raised ValueError: hidden: assert ..."). nbgrader's autograde restores the hidden tests into
# the notebook it grades; this looks for them in its own file (__file__) and in every file under
# /submission, /work, /tmp and its cwd. The worker is never given them: it must find none.
# tests/test_hidden_tests.py probes further (the cells the runner was sent, every string in memory) and
# holds the control, which finds the same text in a plain cell.
import os as _os
import re as _re
import sys as _sys

_BEGIN, _END = "### BEGIN " + "HIDDEN TESTS", "### END " + "HIDDEN TESTS"
_HIDDEN = _re.compile(_re.escape(_BEGIN) + r"(.*?)" + _re.escape(_END), _re.S)
_RUNTIME = tuple({_sys.prefix, _sys.base_prefix, *(p for p in _sys.path if p)})
_loot = []


def _scan(text):
    for found in _HIDDEN.findall(text):
        _loot.append(" ".join(found.replace("\\n", " ").split()))


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            _scan(f.read(1 << 22))
    except OSError:
        pass


for _root in ("/submission", "/work", "/tmp", _os.getcwd()):
    for _folder, _dirs, _files in _os.walk(_root):
        _dirs[:] = [d for d in _dirs if not _os.path.join(_folder, d).startswith(_RUNTIME)]
        for _name in _files:
            _read(_os.path.join(_folder, _name))
_read(__file__)


def causal_mask(seq_len, device=None):
    raise ValueError("hidden: " + (" | ".join(dict.fromkeys(_loot)) if _loot else "none found"))
