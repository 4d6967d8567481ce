# slip: qk_scores wrong_scale blind5
# source: notebook code written for 2-D (L, d) tensors and later run on batches (course forums, blog tutorials)
# takes the head size as q.shape[1], which is d only for 2-D input; on batched input it scales by sqrt(L) (or sqrt(H))


def qk_scores(q, k):
    """q: (..., L, d), k: (..., S, d) -> scores (..., L, S)."""
    d = q.shape[1]  # (L, d): the features are the second dimension
    scores = torch.matmul(q, k.transpose(-2, -1))  # (..., L, S)
    return scores / math.sqrt(d)
