"""nbgrader's collect, keeping only the submissions that their student's own account made.

nbgrader names a submission `<student>+<assignment>+<time>+<random>` in the shared `inbound` folder,
which every student may write to, and collects the latest one per student name. Its `check_owner`
only logs a warning, so a student who writes `bob+lesson1_qk_scores+<a later time>+x` there replaces
bob's submission at the next collect (nbgrader #978, #1097). Under `attnlab hub --system-users`, where
each student has an account, the instructor's nbgrader collects with this class instead
(`c.ExchangeFactory.collect`): a folder that its student's account does not own is skipped with one
warning naming it and its owner, and that student's latest own submission is collected.
"""

from __future__ import annotations

import glob
import os
import pwd

from nbgrader.exchange.default.collect import ExchangeCollect


def owner(path: str) -> str:
    """The account that owns `path` (its uid, where the account is gone)."""
    uid = os.stat(path).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class OwnedSubmissionsCollect(ExchangeCollect):
    """`ExchangeCollect` over the submissions whose folder its student owns (see the module's docstring)."""

    def init_src(self):
        super().init_src()
        kept = [self._own(record) for record in self.src_records]
        self.src_records = [record for record in kept if record is not None]

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
