# expect: attention wrong_shape
# Joins the last two dimensions of the output, as if joining heads: output is (..., L * dv).


def attention(q, k, v, mask=None, temperature=1.0):
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    out = weights @ v  # (..., L, dv)
    return out.reshape(*out.shape[:-2], -1), weights  # (..., L * dv)
