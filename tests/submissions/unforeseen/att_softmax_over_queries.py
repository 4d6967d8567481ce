# slip: attention normalised_elsewhere
# source: course forum pattern: dim=-2 from a column-major picture of the score matrix (each key's column normalised)
# Takes the softmax along the queries (dim=-2) instead of the keys, so columns, not rows, sum to 1.


def attention(q, k, v, mask=None, temperature=1.0):
    """q (..., L, d), k (..., S, d), v (..., S, dv) -> (out (..., L, dv), weights (..., L, S))."""
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    weights = softmax_with_temperature(scores, temperature, dim=-2)  # over the queries
    out = torch.matmul(weights, v)  # (..., L, dv)
    return out, weights
