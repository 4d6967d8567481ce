# hostile: look for the reference or the judge in memory (sys.modules, gc) and in the import path, and
# answer from it if found. The worker is forked from a clean zygote, so there must be nothing to find.
import gc
import importlib
import sys


def _find():
    for name, mod in list(sys.modules.items()):
        if "attnlab" in name or "reference" in name or "judge" in name:
            fn = getattr(mod, "qk_scores", None)
            if callable(fn):
                return fn
    for obj in gc.get_objects():
        if callable(obj) and getattr(obj, "__name__", "") == "qk_scores" and "attnlab" in str(getattr(obj, "__module__", "")):
            return obj
    return None


def qk_scores(q, k):
    found = _find()
    if found is not None:
        return found(q, k)
    return q @ k.transpose(-2, -1)  # wrong on purpose: no scaling
