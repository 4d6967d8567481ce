"""Grade the slips in this folder, which no rule of the diagnosis catalogue was written for, and say what each gets.

    python tests/submissions/unforeseen/run.py [names...]      # one block per slip
    python tests/submissions/unforeseen/run.py --docs          # rewrite docs/unforeseen.md from the grader

Each `<name>.py` here is an override of `tests/submissions/base.py`, as the mistakes files are: the submission is
base.py, a blank line, then the file (tests/conftest.py's `build()`). Its first lines are

    # slip: <task id> <the catalogue id that names it, or - where none does yet> [blind | blind3 | blind4 | blind5]
    # source: <where the slip is seen>
    # <what the code does wrong>

`blind`, `blind3`, `blind4` and `blind5` mark the slips written by someone who had not seen the describer (its
code, its tests or these slips): each batch's first run, before anything was changed because of it, is the honest
measure of how far it names what nobody foresaw (docs/unforeseen.md lists those runs). The others were
written for issue 22 before the describer was, as a list of what it should name.

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
    blind: str  # "blind", "blind3", ... where written without having seen the describer, else ""

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
        from attnlab.judging.describe import IDS

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
    from attnlab.judging.diagnose import TITLES

    named = [s for s, t in results if s.named != "-" and t["score"] < t["max_score"] and s.is_named(t)]
    share = len(named) * 100 // len(results)
    batches = {b: [s for s, _ in results if s.blind == b] for b in ("blind", "blind3", "blind4", "blind5")}
    out = [
        "# Slips nobody wrote a rule for",
        "",
        "Each slip below is a plausible student mistake, as seen in course forums, textbooks and real codebases,",
        "mostly of kinds the diagnosis catalogue's rules do not model. The describer (`attnlab/judging/describe.py`) names",
        "them from how the wrong output relates to the expected one. The feedback is what `attnlab grade` gives for",
        "base.py with that one slip, the task graded alone with seed 11 (`check()`, the pytest plugin and nbgrader",
        "say the same). tests/test_unforeseen.py checks that every entry here is what the grader says today;",
        "`python tests/submissions/unforeseen/run.py --docs` rewrites this page.",
        "",
        f"**{len(named)} of {len(results)} named by the id listed** ({share} %; issue 22 asks for 90 %"
        + (")." if share >= 90 else ", not reached)."),
        "Of the slips written blind, by someone who had not seen the describer (its code, its tests or these slips): "
        + "; ".join(
            f"{sum(1 for s in named if s.blind == b)} of the {len(ss)} of the {word} batch"
            for (b, ss), word in zip(batches.items(), ("first", "third", "fourth", "fifth"))
        )
        + ". A slip listed with `-` is not named yet: it gets the exception it raised, or how many values are",
        "off, and no relation of the describer's.",
        "",
        "## How far these numbers measure the describer",
        "",
        "Only a batch's first run, graded before anything was changed because of it, measures what the describer",
        "names unforeseen; after that run its slips are a regression set. The first runs:",
        "",
        "- **First blind batch:** 8 of 16 named, 3 by the describer and 5 by rules the catalogue already had. The case",
        "  split (`case_split`) and the projection knob (`knob:params`) were added because of it.",
        "- **Third blind batch:** 7 of 16 named rightly (5 of its 13 slips of kinds the catalogue does not model, by",
        "  the describer), and one wrongly, by an older rule: sm_exp2_missing_log2e, a softmax in base 2, was called",
        "  `temperature_ignored` because at T = 0.7 its weights nearly equal the T = 1 ones. That rule now holds back",
        "  where the weights are wrong at T = 1 too. Added after it: `input_added`, `knob:linear`, and regions for a",
        "  window.",
        "- **Fourth blind batch (blind4):** 9 of 16 named rightly and none wrongly: 7 by the describer",
        "  (`region_split` twice, `case_split` three times, `weight_where_none`, `extra_dims`), 2 by the heatmap",
        "  rule `plot_wrong_data`. Five of its slips repeat or closely resemble kinds already in this set",
        "  (plot_resoftmax, att_masked_fill_discarded, mha_merge_without_transpose, kv_mask_first_rows,",
        "  pe_tutorial_middle_dim); of its 11 of new kinds the describer named 3 (qk_loop_skips_last_row,",
        "  sm_temperature_on_probs and kv_caches_queries_too, the last two only by the kind of case they fail on).",
        "",
        "General mechanisms added after the fourth batch's first run, each pinned by a unit test with a control:",
        "the describer now looks at what is wrong as graded (an epsilon of 1e-6 in a denominator fails float64's",
        "tolerance but was within its loose one); an error on one kind of case is put down to the dtype only where",
        "the error names a dtype (qk_bmm_only_3d's rank split was lost to a dtype that went with it);",
        "`slice_of` (a buffer not cut to length, a cache that returns every position it holds); `written_elsewhere`",
        "(values written into the wrong columns, over others, the rest left at 0); `scaled_along` (a factor for",
        "each row and column, named where it is the length of the inputs' vectors); a region for the queries the",
        "mask hides every key from; the slices' sums off 1 on both sides; and knob values for the output blended",
        "by the scores or by the weights transposed, and for a projection left out.",
        "",
        "- **Fifth blind batch (blind5)**, graded once the mechanisms above were in: 10 of 16 named rightly, 5 by",
        "  the describer (`case_split` three times, `region_split` twice) and 5 by rules (`wrong_scale`,",
        "  `unstable_softmax`, `accepts_invalid_temperature`, `accepts_invalid_length`, `plot_missing_labels`);",
        "  one named wrongly, by an older rule: mha_loop_last_head_weights returns the last head's weights, and",
        "  `weights_averaged` looked at their shape alone (it now checks they are the average, on a case with",
        "  several heads); and one not caught at all: mha_causal_by_default, whose forward masks by default, since",
        "  every case passed causal (a case now leaves it at its default). Added after it: the diagonal of the last",
        "  two dimensions (`reduced_dim`), a case with one entry along a dimension no longer vetoing a reduction",
        "  the others show, and `slice_of` along several dimensions at once.",
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
            + {
                "blind": " *(Written blind.)*",
                "blind3": " *(Written blind, third batch.)*",
                "blind4": " *(Written blind, fourth batch.)*",
                "blind5": " *(Written blind, fifth batch.)*",
            }.get(slip.blind, ""),
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
    from attnlab.running.grade import grade_paths
    from attnlab.running.processes import Zygote

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
