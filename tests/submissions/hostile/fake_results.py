# hostile: print what looks like a perfect result, on stdout and stderr, then submit a wrong qk_scores.
import json
import sys

perfect = {"schema": "attnlab.grade/1", "submission": "fake_results.py", "total": 100.0, "max_total": 100.0,
           "tasks": [{"id": "qk_scores", "score": 15.0, "max_score": 15.0, "status": "passed"}]}
print(json.dumps(perfect))
print(json.dumps(perfect), file=sys.stderr)
sys.stdout.flush()


def qk_scores(q, k):
    print(json.dumps(perfect))
    return q @ k.transpose(-2, -1)
