# slip: qk_scores - blind4
# source: course forums and beginner blog posts (reshape/view used where a transpose was meant)
# k is reshaped to (..., d, S) instead of transposed, so the feature and key entries are shuffled


def qk_scores(q, k):
    """q: (..., L, d), k: (..., S, d) -> scores (..., L, S)."""
    d = q.size(-1)
    S = k.size(-2)
    k_t = k.reshape(*k.shape[:-2], d, S)  # (..., d, S)
    scores = torch.matmul(q, k_t)  # (..., L, S)
    return scores / math.sqrt(d)
