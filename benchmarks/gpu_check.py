"""Grade on a real GPU what must be right there, through the real `attnlab grade`, and say what came out.

    python benchmarks/gpu_check.py            # called by benchmarks/gpu_check.sh; exit 1 if any check fails

Graded with ``--device auto`` (cpu and cuda cases) in one run of the CLI:
- the bundled examples (``assignments/examples``): correct.py must score full with every cuda case run
  and passed, the mistakes must keep their diagnoses;
- every valid variant (``tests/submissions/variants``, on top of ``base.py``): full marks;
- the device mistakes (``wrong_device``, ``wrong_dtype``): named, and ``wrong_device`` on a real cuda
  case, not only on the meta-device one.

Prints one table and one verdict line per check. Without a GPU every cuda case is pending, and the
first check says so and fails: this script is for a machine with one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUBMISSIONS = REPO / "tests" / "submissions"
DEVICE_MISTAKES = ("wrong_device", "wrong_dtype", "missing_scale")


def build(tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file to grade, what it must show)."""
    base = (SUBMISSIONS / "base.py").read_text()
    files = {
        p.stem: (p, "full" if p.stem == "correct" else "named")
        for p in sorted((REPO / "assignments" / "examples").glob("*.py"))
    }
    for p in sorted((SUBMISSIONS / "variants").glob("*.py")):
        out = tmp / f"variant_{p.name}"
        out.write_text(base + "\n\n" + p.read_text())
        files[out.stem] = (out, "full")
    for name in DEVICE_MISTAKES:
        p = SUBMISSIONS / "mistakes" / f"{name}.py"
        out = tmp / f"mistake_{p.name}"
        out.write_text(base + "\n\n" + p.read_text())
        files[out.stem] = (out, f"diagnosis:{p.read_text().splitlines()[0].removeprefix('# expect: ')}")
    return files


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="attnlab-gpu-") as tmp:
        files = build(Path(tmp))
        cmd = [
            sys.executable,
            "-m",
            "attnlab.cli",
            "grade",
            "--json",
            "--seed",
            "7",
            "--device",
            "auto",
            *[str(p) for p, _ in files.values()],
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        print(f"FAIL attnlab grade exited {out.returncode}: {out.stderr.strip()[-1500:]}")
        return 1
    results = [json.loads(line) for line in out.stdout.splitlines()]
    failures = 0
    print(f"{'submission':<32} {'total':>7} {'cuda passed':>12} {'cuda failed':>12} {'pending':>8}  diagnoses")
    for (name, (_, want)), result in zip(files.items(), results):
        cases = [c for t in result["tasks"] for c in t["cases"] if c["device"] == "cuda"]
        ok_cuda = sum(c["status"] == "passed" for c in cases)
        bad_cuda = sum(c["status"] not in ("passed", "pending") for c in cases)
        pending = sum(c["status"] == "pending" for c in cases)
        diags = sorted({d for t in result["tasks"] for d in t["diagnoses"]})
        print(f"{name:<32} {result['total']:>7g} {ok_cuda:>12} {bad_cuda:>12} {pending:>8}  {', '.join(diags)}")
        if pending or not cases:
            verdict = f"FAIL {name}: {pending} cuda cases pending of {len(cases)}: this machine's GPU was not used"
        elif want == "full":
            lost = [f"{t['id']}: {t['feedback']}" for t in result["tasks"] if t["score"] < t["max_score"]]
            verdict = f"OK   {name}: full marks" if not lost else f"FAIL {name}: lost points: {'; '.join(lost)[:400]}"
        elif want == "named":
            verdict = f"OK   {name}: {', '.join(diags)}" if diags else f"FAIL {name}: no mistake named"
        else:
            task, diagnosis = want.removeprefix("diagnosis:").split()[:2]
            t = next(t for t in result["tasks"] if t["id"] == task)
            on_cuda = [c["id"] for c in t["cases"] if c["device"] == "cuda" and diagnosis in c["diagnoses"]]
            if diagnosis not in t["diagnoses"]:
                verdict = f"FAIL {name}: {task} does not name {diagnosis} ({t['diagnoses']})"
            elif diagnosis == "wrong_device" and not on_cuda:
                verdict = f"FAIL {name}: wrong_device was named, but on no cuda case"
            else:
                where = f" (on cuda cases {', '.join(on_cuda)})" if on_cuda else ""
                verdict = f"OK   {name}: {task} names {diagnosis}{where}"
        failures += verdict.startswith("FAIL")
        print(verdict)
    print(f"{len(results) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
