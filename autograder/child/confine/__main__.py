"""``python -I -m attnlab.child.confine HIDE...``: what a worker of this Python would get, as JSON (for debugging)."""

from __future__ import annotations

import json
import os
import sys
import tempfile

from .probing import probe
from .view import plan


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for d in ("work", "submission"):
            os.mkdir(os.path.join(tmp, d))
        os.chmod(tmp, 0o711)
        spec = {
            "mode": os.environ.get("ATTNLAB_SANDBOX", "auto"),
            "plan": plan(sys.argv[1:]),
            "workdir": tmp,
            "memory_mb": 2048,
            "submission": None,
        }
        print(json.dumps(probe(spec).result(), indent=1))


if __name__ == "__main__":
    main()
