"""Grade the slips in this folder, which no rule of the diagnosis catalogue was written for, and say what each gets.

    python tests/submissions/unforeseen/run.py [names...]      # one block per slip
    python tests/submissions/unforeseen/run.py --docs          # rewrite docs/unforeseen.md from the grader

Each `<name>.py` here is an override of `tests/submissions/base.py`, as the mistakes files are: the submission is
base.py, a blank line, then the file (tests/conftest.py's `build()`). Its first lines are

    # slip: <task id> <the catalogue id that names it, or - where none does yet> [blind | blind3]
    # source: <where the slip is seen>
    # <what the code does wrong>

`blind` and `blind3` mark the slips written by someone who had not seen the describer (its code, its tests
or these slips): the honest measure of how far it names what nobody foresaw. `blind3` is the batch written
last, which nothing was changed for but one wrong name an older rule gave. The others were written for
issue 22 before the describer was, as a list of what it should name.

Only that task is graded, with seed 11, through one shared zygote; tests/test_unforeseen.py does the same and
checks that each slip loses points, is named by its id, and gets the very feedback docs/unforeseen.md shows.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUBMISSIONS = HERE.parent
BASE = SUBMISSIONS / "base.py"
REPO = SUBMISSIONS.parent.parent
DOCS = REPO / "docs" / "unforeseen.md"
SEED = 11


@dataclass(frozen=True)
class Slip:
    path: Path
    task: str
    named: str  # the catalogue id that should name it; "-" where none does yet
    source: str
    what: str
    blind: str  # "blind" or "blind3" where written without having seen the describer, else ""

    @property
    def name(self) -> str:
        return self.path.stem

    @classmethod
    def read(cls, path: Path) -> Slip:
        lines = path.read_text().splitlines()
        if len(lines) < 3 or not lines[0].startswith("# slip: ") or not lines[1].startswith("# source: "):
            raise ValueError(f"{path.name}: start with '# slip: TASK ID', '# source: ...' and '# what it does'")
        task, named, *rest = lines[0].removeprefix("# slip: ").split()
        source, what = lines[1].removeprefix("# source: "), lines[2].removeprefix("# ").strip()
        return cls(path, task, named, source, what, blind=next((r for r in rest if r.startswith("blind")), ""))

    def is_named(self, task: dict) -> bool:
        """Whether the graded task shows what this slip's header says: named by its id, or by none of the
        describer's ids where it says "-" (not named, and not misnamed either)."""
        from attnlab.grading.describe import IDS

        if self.named == "-":
            return not set(IDS) & set(task["diagnoses"])
        return self.named in task["diagnoses"]


def slips(names: list[str] | None = None) -> list[Slip]:
    """The slips, all of them or the named ones (by stem), in task order, then by name."""
    from attnlab.tasks import TASK_IDS

    every = [Slip.read(p) for p in sorted(HERE.glob("*.py")) if p.name != Path(__file__).name]
    chosen = [s for s in every if not names or s.name in names]
    return sorted(chosen, key=lambda s: (TASK_IDS.index(s.task), s.name))


def build(override: Path, dest: Path) -> Path:
    """base.py plus `override`, exactly as tests/conftest.py's build() writes it."""
    out = dest / override.name
    out.write_text(BASE.read_text() + "\n\n" + override.read_text())
    return out


def grade(slip: Slip, grade_paths, tmp: Path) -> dict:
    """The slip's task in the grader's JSON report, graded alone."""
    (result,) = grade_paths([build(slip.path, tmp)], seed=SEED, task_ids=[slip.task])
    return next(t for t in result["tasks"] if t["id"] == slip.task)


def docs(results: list[tuple[Slip, dict]]) -> str:
    """docs/unforeseen.md: every slip with the feedback it gets."""
    from attnlab.grading.diagnose import TITLES

    named = [s for s, t in results if s.named != "-" and t["score"] < t["max_score"] and s.is_named(t)]
    blind = [s for s, _ in results if s.blind == "blind"]
    third = [s for s, _ in results if s.blind == "blind3"]
    out = [
        "# Slips nobody wrote a rule for",
        "",
        "Each slip below is a plausible student mistake, as seen in course forums, textbooks and real codebases,",
        "mostly of kinds the diagnosis catalogue's rules do not model. The describer (`attnlab/grading/describe.py`) names",
        "them from how the wrong output relates to the expected one. The feedback is what `attnlab grade` gives for",
        "base.py with that one slip, the task graded alone with seed 11 (`check()`, the pytest plugin and nbgrader",
        "say the same). tests/test_unforeseen.py checks that every entry here is what the grader says today;",
        "`python tests/submissions/unforeseen/run.py --docs` rewrites this page.",
        "",
        f"**{len(named)} of {len(results)} named by the id listed** ({len(named) * 100 // len(results)} %; issue 22 asks for 90 %, "
        "not reached).",
        f"Of the {len(blind)} slips of the first batch written blind (by someone who had not seen the describer), "
        f"{sum(1 for s in named if s.blind == 'blind')} are named; of the {len(third)} of the third, "
        f"{sum(1 for s in named if s.blind == 'blind3')}. A slip listed with `-` is not named yet: it gets the",
        "exception it raised, or how many values are off, and no relation of the describer's.",
        "",
        "An honest caveat on the blind ones: graded first, before the case split (`case_split`) and the",
        "projection knob (`knob:params`) existed, 8 of the 16 were named, 3 by the describer and 5 by rules the",
        "catalogue already had. Those two mechanisms were added because of what the blind run showed, so the",
        "blind slips are no longer a blind measure; the next set written blind is. Adding the dtype to the case",
        "split's features, so that a split that is really the dtype's is not put down to another feature, took",
        "qk_bmm_only_3d's name away: its 3-D cases are also its only ones not in float32. And",
        "kv_shared_class_cache first got a misleading `wrong_device` (its cache, shared by every instance, carried",
        "CPU tensors into the case on another device); the worker now reports a list or dict on the module's",
        "class that grows with tensors, and the rule `shared_state` names it where the first case passes and a",
        "later one does not.",
        "",
        "The third blind batch's first run is the honest measure of the describer: 7 of its 16 named rightly (5 of",
        "its 13 slips of kinds the catalogue does not model, by the describer) and one wrongly, by an older rule:",
        "sm_exp2_missing_log2e, a softmax in base 2, was called `temperature_ignored` because at T = 0.7 its",
        "weights nearly equal the T = 1 ones. That rule now holds back where the weights are wrong at T = 1 too,",
        "and the describer then says what is true (a softmax of the expected scores times 0.693). Three general",
        "mechanisms were added after that run, because of it: the input added to the output (`input_added`), the",
        "projections computing x @ W.weight (`knob:linear`), and regions for a window (the keys more than w",
        "before each query). So 11 of its 16 are named now, and the next batch written blind is the measure.",
        "",
    ]
    task = None
    for slip, t in results:
        if slip.task != task:
            task = slip.task
            out += [f"## {task}", ""]
        out += [
            f"### {slip.name}: " + (f"`{slip.named}` ({TITLES.get(slip.named, '')})" if slip.named != "-" else "not named yet"),
            "",
            f"{slip.what} *Seen in:* {slip.source}"
            + {"blind": " *(Written blind.)*", "blind3": " *(Written blind, third batch.)*"}.get(slip.blind, ""),
            "",
            f"Score {t['score']:g} of {t['max_score']:g}; diagnoses: {', '.join(t['diagnoses'])}.",
            "",
            f"> {t['feedback']}",
            "",
        ]
    return "\n".join(out)


def documented() -> dict[str, str]:
    """slip name -> the feedback docs/unforeseen.md shows for it."""
    out, name = {}, None
    for line in DOCS.read_text().splitlines():
        if line.startswith("### "):
            name = line.removeprefix("### ").split(":")[0]
        elif line.startswith("> ") and name:
            out[name] = line[2:]
            name = None
    return out


def main(argv: list[str]) -> int:
    import torch

    torch.set_num_threads(1)  # this process forks (the zygote) after importing torch

    from attnlab.course import load_course
    from attnlab.grading.grade import grade_paths
    from attnlab.grading.processes import Zygote

    write_docs = "--docs" in argv
    names = [a for a in argv if not a.startswith("--")]
    course = load_course(REPO / "course.yml")
    zygote = Zygote()
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="unforeseen-") as tmp:
            for slip in slips(names):
                t = grade(slip, lambda *a, **k: grade_paths(*a, course=course, zygote=zygote, **k), Path(tmp))
                results.append((slip, t))
                lost = t["score"] < t["max_score"]
                ok = "as listed" if lost and slip.is_named(t) else "NOT AS LISTED" if lost else "FULL MARKS"
                print(f"== {slip.name}  [{slip.task}]  {t['score']:g}/{t['max_score']:g}  {slip.named}: {ok}")
                print(f"   diagnoses: {', '.join(t['diagnoses']) or '(none)'}")
                print(f"   feedback: {t['feedback']}\n", flush=True)
    finally:
        zygote.close()
    if write_docs:
        DOCS.write_text(docs(results))
        print(f"wrote {DOCS.relative_to(REPO)}")
    bad = [s.name for s, t in results if not (t["score"] < t["max_score"] and s.is_named(t))]
    print(f"{len(results) - len(bad)} of {len(results)} slips lose points and are named as listed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
