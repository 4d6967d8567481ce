# slip: attention other_temperature
# source: course forum pattern: the temperature parameter is added to the signature but not threaded through to the softmax call
# Never passes temperature on to softmax_with_temperature, so every call uses temperature 1.


def attention(q, k, v, mask=None, temperature=1.0):
    """q (..., L, d), k (..., S, d), v (..., S, dv) -> (out (..., L, dv), weights (..., L, S))."""
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    weights = softmax_with_temperature(scores, dim=-1)  # temperature left out
    out = torch.matmul(weights, v)  # (..., L, dv)
    return out, weights
