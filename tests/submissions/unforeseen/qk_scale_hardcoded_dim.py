# slip: qk_scores wrong_scale blind
# source: tutorials written for 2-D (L, d) inputs that read the key size as d_k = q.size(1) / q.shape[1]
# Reads d from the hard-coded dimension 1, which is d only for 2-D inputs; with batch dims it scales by sqrt(L) (or sqrt(H)).


def qk_scores(q, k):
    d = q.size(1)  # the feature size ... for a (L, d) matrix
    scores = torch.matmul(q, k.transpose(-2, -1))  # (..., L, S)
    return scores / math.sqrt(d)
