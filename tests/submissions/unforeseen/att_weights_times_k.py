# slip: attention knob
# source: course forum pattern: a k/v typo in the last line when q, k and v all have the same shape in the examples
# Multiplies the weights by k instead of v, out = weights @ k.


def attention(q, k, v, mask=None, temperature=1.0):
    """q (..., L, d), k (..., S, d), v (..., S, dv) -> (out (..., L, dv), weights (..., L, S))."""
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    out = torch.matmul(weights, k)  # k where v belongs
    return out, weights
