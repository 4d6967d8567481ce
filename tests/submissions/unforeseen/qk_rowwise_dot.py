# slip: qk_scores reduced_dim blind5
# source: beginner course forums ("the score is the dot product of q and k", written elementwise)
# multiplies q and k elementwise and sums the features, so query i is scored only against key i: shape (..., L), no (L, S) grid


def qk_scores(q, k):
    """q: (..., L, d), k: (..., S, d) -> scores (..., L, S)."""
    d = q.size(-1)
    scores = (q * k).sum(dim=-1)  # dot product of each query with its key
    return scores / math.sqrt(d)
