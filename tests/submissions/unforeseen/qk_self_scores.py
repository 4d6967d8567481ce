# slip: qk_scores knob
# source: course forum pattern: a copy-paste typo when q and k are written on neighbouring lines ("my scores are symmetric?")
# Multiplies q by its own transpose, q @ q^T / sqrt(d), so k is never used.


def qk_scores(q, k):
    """q: (..., L, d), k: (..., S, d) -> scores (..., L, S)."""
    d = q.size(-1)
    scores = torch.matmul(q, q.transpose(-2, -1))  # typo: q where k belongs
    return scores / math.sqrt(d)
