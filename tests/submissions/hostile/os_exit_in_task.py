# hostile: end the whole process from inside one task; the other tasks must still be graded.
import os


def qk_scores(q, k):
    os._exit(3)
