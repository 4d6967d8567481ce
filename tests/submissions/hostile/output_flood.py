# hostile: flood stdout and stderr while loading and inside a task.
import sys

for _ in range(20000):
    print("x" * 200)
    print("y" * 200, file=sys.stderr)


def qk_scores(q, k):
    sys.stdout.write("z" * 5_000_000)
    return q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
