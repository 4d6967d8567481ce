# slip: attention weight_where_none
# source: course forum pattern: the mask argument is accepted for the signature but the masking line was never written
# Never applies the mask, so hidden keys get weight as if every key were visible.


def attention(q, k, v, mask=None, temperature=1.0):
    """q (..., L, d), k (..., S, d), v (..., S, dv) -> (out (..., L, dv), weights (..., L, S))."""
    scores = qk_scores(q, k)  # (..., L, S)
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # mask never used
    out = torch.matmul(weights, v)  # (..., L, dv)
    return out, weights
