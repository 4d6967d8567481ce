"""nbgrader's collect, keeping only the submissions that may be graded and shown: a plain student id, made by
that student's own account where students have accounts.

nbgrader names a submission `<student>+<assignment>+<time>+<random>` in the shared `inbound` folder,
which every student may write to, and collects the latest one per student name. Two things in that
name are the writer's to choose:

- **Whose it is.** Its `check_owner` only logs a warning, so a student who writes
  `bob+lesson1_qk_scores+<a later time>+x` there replaces bob's submission at the next collect (nbgrader
  #978, #1097). With `check_owner` on (nbgrader's default; `attnlab hub --system-users`), a folder that
  its student's account does not own is skipped with one warning naming it and its owner, and that
  student's latest own submission is collected.
- **The id itself.** It becomes a folder in `submitted/` and a row in the gradebook, and nbgrader's pages
  print student ids as they are: an id written in HTML would run as a script in the instructor's
  formgrader. A submission whose id is not plain (`attnlab.inert.PLAIN_ID`: letters, digits, '.', '@',
  '_', '-') is skipped with one warning, whatever `check_owner` says.

The instructor's nbgrader collects with `CourseCollect` (`c.ExchangeFactory.collect`) in both modes of
`attnlab hub` and in the Kubernetes grader image (`deploy/grader-config`).
"""

from __future__ import annotations

import glob
import os
import pwd

from nbgrader.exchange.default.collect import ExchangeCollect

from ..inert import is_plain_id


def owner(path: str) -> str:
    """The account that owns `path` (its uid, where the account is gone)."""
    uid = os.stat(path).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class CourseCollect(ExchangeCollect):
    """`ExchangeCollect` over the submissions with a plain student id and, with `check_owner`, whose folder
    its student owns (see the module's docstring)."""

    def init_src(self):
        super().init_src()
        plain = [record for record in self.src_records if self._plain(record)]
        if self.check_owner:
            plain = [self._own(record) for record in plain]
        self.src_records = [record for record in plain if record is not None]

    def _plain(self, record: dict) -> bool:
        if is_plain_id(record["username"]):
            return True
        self.log.warning(
            "Skipping %s: its student id %r is not a plain id (letters, digits, '.', '@', '_', '-')",
            os.path.join(self.inbound_path, record["filename"]),
            record["username"],
        )
        return False

    def _own(self, record: dict) -> dict | None:
        """`record` if its student made it, else that student's latest own submission, else None."""
        student = record["username"]
        if owner(os.path.join(self.inbound_path, record["filename"])) == student:
            return record
        pattern = os.path.join(
            self.inbound_path, f"{glob.escape(student)}+{glob.escape(self.coursedir.assignment_id)}+*"
        )
        records = []
        for path in glob.glob(pattern):
            if owner(path) == student:
                records.append(self._path_to_record(path))
            else:
                self.log.warning("Skipping %s: it claims to be %s's but %s made it", path, student, owner(path))
        return self._sort_by_timestamp(records)[0] if records else None
