# expect: qk_scores exception
# A typo in the method name (tranpose) raises AttributeError on every call.


def qk_scores(q, k):
    d = q.size(-1)
    return torch.matmul(q, k.tranpose(-2, -1)) / math.sqrt(d)  # (..., L, S)
