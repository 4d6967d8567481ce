# expect: qk_scores wrong_scale
# Divides by d instead of sqrt(d).


def qk_scores(q, k):
    d = q.size(-1)
    return torch.matmul(q, k.transpose(-2, -1)) / d  # (..., L, S)
