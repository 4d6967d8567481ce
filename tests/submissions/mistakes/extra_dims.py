# expect: attention extra_dims
# Blends the values with a broadcast sum but keeps the summed dim: output is (..., L, 1, dv).


def attention(q, k, v, mask=None, temperature=1.0):
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    out = (weights.unsqueeze(-1) * v.unsqueeze(-3)).sum(dim=-2, keepdim=True)  # (..., L, 1, dv)
    return out, weights
