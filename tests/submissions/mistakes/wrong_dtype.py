# expect: qk_scores wrong_dtype
# Casts the scores to float32 "to be safe", so float64 inputs come back as float32.


def qk_scores(q, k):
    d = q.size(-1)
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(d)  # (..., L, S)
    return scores.float()
