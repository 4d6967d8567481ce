"""What the grader says of every submission here, and every case it draws, as one JSON file: the proof that a
refactor changed no behaviour (issue 23 rewrote the eight built-in tasks as task modules against it).

    python tests/submissions/snapshot.py OUT.json            # grade everything, write the snapshot
    python tests/submissions/snapshot.py --diff A.json B.json  # what differs, one line each; exit 1 if anything

For each submission (base.py, all_zeros.py, and base.py with each file of mistakes/, variants/ and unforeseen/ put
in, as tests/conftest.py builds them), every task's score, status, diagnoses, feedback and each case's status, with
seed 11. For each task, a digest of every case drawn for seeds 1234 and 11 on every dtype and on cpu and cuda: its
id, label, kind, spec, input tensors, expected outputs and expected gradients.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
SEED = 11


def _tensor_bytes(t) -> bytes:
    import torch

    if t is None:
        return b"none"
    if isinstance(t, (list, tuple)):
        return b"[" + b",".join(_tensor_bytes(x) for x in t) + b"]"
    if isinstance(t, dict):
        return b"{" + b",".join(k.encode() + b":" + _tensor_bytes(v) for k, v in sorted(t.items())) + b"}"
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().contiguous()
        return f"{t.dtype}{tuple(t.shape)}".encode() + t.view(torch.uint8).numpy().tobytes() if t.numel() else b"empty"
    return repr(t).encode()


def case_digests() -> dict[str, dict[str, str]]:
    from attnlab.judging.cases import make_cases
    from attnlab.tasks import TASK_IDS

    dtypes, devices = ["float64", "float32", "float16", "bfloat16"], ["cpu", "cuda"]
    out = {}
    for tid in TASK_IDS:
        for seed in (1234, SEED):
            for c in make_cases(tid, seed, dtypes, devices):
                h = hashlib.sha256()
                h.update(json.dumps([c.id, c.label, c.kind, c.spec, c.dtype, c.device, c.probe], sort_keys=True,
                                    default=str).encode())
                h.update(_tensor_bytes(c.tensors))
                h.update(_tensor_bytes(c.expected))
                h.update(_tensor_bytes(getattr(c, "expected_grads", None)))
                h.update(json.dumps(c.extra, sort_keys=True, default=str).encode())
                out.setdefault(tid, {})[f"{seed}/{c.id}"] = h.hexdigest()[:16]
    return out


def submissions(tmp: Path) -> list[Path]:
    from conftest import build

    subs = HERE
    paths = [subs / "base.py", subs / "all_zeros.py"]
    for folder in ("mistakes", "variants", "unforeseen"):
        (tmp / folder).mkdir()
        paths += [build(p, tmp / folder) for p in sorted((subs / folder).glob("*.py")) if p.name != "run.py"]
    return paths


def snapshot() -> dict:
    import torch

    torch.set_num_threads(1)  # this process forks (the zygote) after importing torch
    from attnlab.course import load_course
    from attnlab.running.grade import grade_paths

    course = load_course()
    out = {"cases": case_digests(), "grades": {}}
    with tempfile.TemporaryDirectory() as tmp:
        paths = submissions(Path(tmp))
        results = grade_paths(paths, course=course, seed=SEED, keep_going=True)
        for path, r in zip(paths, results):
            key = f"{path.parent.name}/{path.name}"
            out["grades"][key] = {
                t["id"]: {
                    "score": t["score"],
                    "status": t.get("status"),
                    "diagnoses": t.get("diagnoses"),
                    "feedback": t.get("feedback"),
                    "cases": {c["id"]: c.get("status") for c in t.get("cases", [])},
                }
                for t in r.get("tasks", [])
            } or r.get("status")
    return out


def diff(a: dict, b: dict, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        lines = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                lines.append(f"{where}/{k}: only in {'the second' if k not in a else 'the first'}")
            else:
                lines += diff(a[k], b[k], f"{where}/{k}")
        return lines
    return [] if a == b else [f"{where}: {str(a)[:200]!r} -> {str(b)[:200]!r}"]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--diff"]:
        lines = diff(*(json.loads(Path(p).read_text()) for p in sys.argv[2:4]))
        print("\n".join(lines) or "the same")
        sys.exit(1 if lines else 0)
    Path(sys.argv[1]).write_text(json.dumps(snapshot(), indent=1, sort_keys=True))
