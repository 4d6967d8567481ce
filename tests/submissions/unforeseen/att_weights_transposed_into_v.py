# slip: attention knob blind4
# source: textbook exercises written with keys as rows (weights^T @ v), copied into a queries-as-rows layout
# the output blends v with the transposed weights, so each output row uses one key's column of weights


def attention(q, k, v, mask=None, temperature=1.0):
    """q (..., L, d), k (..., S, d), v (..., S, dv) -> (out (..., L, dv), weights (..., L, S))."""
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    out = torch.matmul(weights.transpose(-2, -1), v)
    return out, weights
