# expect: qk_scores missing_scale
# Forgot to divide the dot products by sqrt(d).


def qk_scores(q, k):
    return torch.matmul(q, k.transpose(-2, -1))  # (..., L, S)
