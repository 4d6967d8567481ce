# expect: qk_scores wrong_transpose
# Multiplies in the wrong order, so the result is keys-by-queries (..., S, L).


def qk_scores(q, k):
    d = q.size(-1)
    return torch.matmul(k, q.transpose(-2, -1)) / math.sqrt(d)  # (..., S, L)
