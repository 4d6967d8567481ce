# slip: qk_scores softmax_again
# source: course forum pattern: students who read ahead fold the softmax into the score function ("the scores should be probabilities")
# Normalises each row of q @ k^T / sqrt(d) with a hand-written softmax over the keys, so it returns weights instead of raw scores.


def qk_scores(q, k):
    """q: (..., L, d), k: (..., S, d) -> scores (..., L, S)."""
    d = q.size(-1)
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(d)  # (..., L, S)
    # turn each query's row into a distribution over the keys right away
    e = torch.exp(scores - scores.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)
