"""The results file of a class run: one JSON line per graded submission, append-only, safe to kill.

    attnlab grade submissions/ --jobs 2 --results r.jsonl

Each line is a record (``"schema": "attnlab.results/1"``) keyed by what its grade depends on: the
sha256 of the code graded (``classrun.digest``: a notebook's code cells in order, a .py file's text), the
hash of the course (course.yml as validated), the seed, the task ids and attnlab's version. A rerun with
the same file grades only the submissions that have no line yet, so a run killed with ``kill -9`` and
started again grades each submission once in the end. Two paths with the same code share a grade, and
each gets its own line.

A line is written with one ``write`` on a file opened for appending, then flushed to disk, so a crash
leaves at most one torn last line; `ResultsFile` cuts it off when it opens the file (one warning
line), and that submission is graded again. Only one process writes a results file: the one that
runs the class (on Dask, the client). A line:

    {"schema": "attnlab.results/1", "key": "<sha256>", "sha256": "<of the code graded>",
     "course": "<sha256 of the course>", "seed": 7, "tasks": ["qk_scores", ...], "version": "0.1.0",
     "path": "submitted/alice/lesson3/lesson3.ipynb", "student": "alice", "assignment": "lesson3",
     "result": {... the object `attnlab grade --json` prints ...},
     "pictures": {"qk_scores": "<base64 PNG>"}}

``student`` and ``assignment`` come from nbgrader's ``submitted/<student>/<assignment>/`` layout; elsewhere
the student is the file's stem and the assignment is null. ``pictures`` is there only where the run kept
them (``attnlab autograde``, or ``attnlab grade --report``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
from pathlib import Path

from ..child.replies import StrEnum
from ..course import Course
from ..version import __version__
from .found import Found

SCHEMA = "attnlab.results/1"


class SubmissionStatus(StrEnum):
    """What became of one submission, in its result's ``"status"``: graded (its tasks scored), or unreadable (with
    the one-line ``"reason"``: missing, not UTF-8, not notebook JSON). A str: the JSON holds the plain word."""

    GRADED = "graded"
    UNREADABLE = "unreadable"


def course_hash(course: Course) -> str:
    """sha256 of the course as validated (its every setting, in a canonical JSON form)."""
    text = json.dumps(course.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def record_key(sha256: str, course: str, seed: int, tasks: list[str], version: str = __version__) -> str:
    """The key of one grade: what it depends on, hashed together."""
    text = json.dumps([sha256, course, int(seed), list(tasks), version], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def encode_pictures(pictures: dict[str, bytes]) -> dict[str, str]:
    return {k: base64.b64encode(v).decode() for k, v in pictures.items()}


def decode_pictures(record: dict) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in (record.get("pictures") or {}).items()}


def make_record(key: str, sha256: str, course: str, seed: int, tasks: list[str], where: Found, result: dict) -> dict:
    """One line of the file for `result` (the dict `SubmissionGrader.grade` returns; its PNGs are encoded)."""
    record = {
        "schema": SCHEMA,
        "key": key,
        "sha256": sha256,
        "course": course,
        "seed": int(seed),
        "tasks": list(tasks),
        "version": __version__,
        "path": str(where.path),
        "student": where.student,
        "assignment": where.assignment,
        "result": {k: v for k, v in result.items() if k != "pictures"},
    }
    if result.get("pictures"):
        record["pictures"] = encode_pictures(result["pictures"])
    return record


def read_records(path: str | Path) -> list[dict]:
    """Every whole line of a results file, in file order, the last one for each key and path; a torn or
    foreign line is left out. For readers (`attnlab report`); `ResultsFile` is the writer."""
    lines: dict[tuple[str, str], dict] = {}
    with open(path, "rb") as f:
        for line in f:
            record = _parse(line)
            if record is not None:
                which = (record["key"], record.get("path", ""))
                lines.pop(which, None)
                lines[which] = record
    return list(lines.values())


def _parse(line: bytes) -> dict | None:
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("schema") != SCHEMA or not isinstance(record.get("key"), str):
        return None
    return record


class ResultsFile:
    """The results file of one run, opened for appending; ``records`` maps each (key, path) to its line.

    Two students who hand in the same code share a key: the grade is made once, and each path gets a line.

    Opening it cuts off a torn last line (a crash mid-write). A line that is whole but not a record
    (another file given by mistake) stops here with a one-line ValueError, before anything is written.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.records: dict[tuple[str, str], dict] = {}
        self._by_key: dict[str, dict] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            self._load()
        except ValueError:
            os.close(self._fd)
            raise
        os.lseek(self._fd, 0, os.SEEK_END)

    def _load(self) -> None:
        data = b""
        while chunk := os.read(self._fd, 1 << 20):
            data += chunk
        good = 0
        for number, line in enumerate(data.splitlines(keepends=True), 1):
            record = _parse(line)
            if record is None:
                if not line.endswith(b"\n"):
                    print(
                        f"attnlab: {self.path}: its last line was cut off (a run that was killed?); "
                        "that submission is graded again",
                        file=sys.stderr,
                    )
                    break
                raise ValueError(
                    f"{self.path}: line {number} is not an attnlab results line; give another --results file"
                )
            self._index(record)
            good += len(line)
        if good < len(data):
            os.ftruncate(self._fd, good)

    def seeds(self) -> list[int]:
        """The seeds its lines were graded with, most recent last, each once."""
        return list(dict.fromkeys(int(r["seed"]) for r in self.records.values()))

    def _index(self, record: dict) -> None:
        self.records[record["key"], str(record.get("path", ""))] = record
        self._by_key[record["key"]] = record

    def get(self, key: str, path: str | None = None) -> tuple[dict | None, bool]:
        """(the line for `key` at `path`, True); else (a line for `key` at another path, False); else
        (None, False). Without `path`, any line for `key`."""
        if path is not None and (key, path) in self.records:
            return self.records[key, path], True
        record = self._by_key.get(key)
        return record, record is not None and path is None

    def append(self, record: dict) -> None:
        """Write one whole line and flush it to disk before returning."""
        line = memoryview((json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode())
        while line:
            line = line[os.write(self._fd, line) :]
        os.fsync(self._fd)
        self._index(record)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def latest(records: list[dict]) -> list[dict]:
    """The newest record of each submission (a file graded again, with another seed or course), in the order
    they were first graded: the class as it stands, for a report. A submission is its student, assignment and
    file name in nbgrader's layout (wherever the file was graded from), else its path."""
    by_submission: dict[tuple, dict] = {}
    for record in records:
        if record.get("assignment") is not None:
            which = (record.get("student"), record["assignment"], Path(record["path"]).name)
        else:
            which = (record["path"],)
        by_submission[which] = record
    return list(by_submission.values())
