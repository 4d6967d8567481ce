# slip: attention other_temperature
# source: course forum pattern: the lesson's formula softmax(QK^T / sqrt(d)) typed out again on top of qk_scores, which already scales
# Divides qk_scores' output (already over sqrt(d)) by sqrt(d) a second time, so the scores are over d.


def attention(q, k, v, mask=None, temperature=1.0):
    """q (..., L, d), k (..., S, d), v (..., S, dv) -> (out (..., L, dv), weights (..., L, S))."""
    scores = qk_scores(q, k) / math.sqrt(q.size(-1))  # scaled again
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    out = torch.matmul(weights, v)  # (..., L, dv)
    return out, weights
