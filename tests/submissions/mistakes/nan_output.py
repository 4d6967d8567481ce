# expect: attention nan_output
# Masks by arithmetic, scores * mask + (~mask) * -inf; but 0 * -inf is NaN, so every masked case is NaN.


def attention(q, k, v, mask=None, temperature=1.0):
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = scores * mask + (~mask) * float("-inf")
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    out = torch.matmul(weights, v)  # (..., L, dv)
    return out, weights
