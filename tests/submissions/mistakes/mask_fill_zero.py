# expect: attention mask_fill_zero
# Fills blocked scores with 0 instead of -inf, so blocked keys still get weight exp(0).


def attention(q, k, v, mask=None, temperature=1.0):
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), 0.0)
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    out = torch.matmul(weights, v)  # (..., L, dv)
    return out, weights
