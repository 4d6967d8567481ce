# slip: qk_scores scaled_values blind3
# source: forum answers that write the dot product with broadcasting instead of matmul
# Forms the pairwise products by broadcasting but reduces them with mean over d instead of sum, so every score is also divided by d.


def qk_scores(q, k):
    d = q.size(-1)
    prod = q.unsqueeze(-2) * k.unsqueeze(-3)  # (..., L, 1, d) * (..., 1, S, d) -> (..., L, S, d)
    scores = prod.mean(dim=-1)  # (..., L, S)
    return scores / math.sqrt(d)
