# hostile: ask for far more memory than the grader allows, inside one task.
def qk_scores(q, k):
    hoard = bytearray(64 * 1024**3)  # 64 GiB
    return hoard
