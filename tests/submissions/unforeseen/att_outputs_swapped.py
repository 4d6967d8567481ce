# slip: attention outputs_swapped
# source: course forum pattern: `return weights, out`, as some tutorials return (attn, output) where the contract asks (output, weights)
# Returns (weights, out) instead of (out, weights).


def attention(q, k, v, mask=None, temperature=1.0):
    """q (..., L, d), k (..., S, d), v (..., S, dv) -> (out (..., L, dv), weights (..., L, S))."""
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    out = torch.matmul(weights, v)  # (..., L, dv)
    return weights, out  # swapped
