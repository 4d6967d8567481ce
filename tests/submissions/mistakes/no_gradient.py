# expect: attention no_gradient
# Wraps the computation in torch.no_grad() "to save memory": right values, but no gradient flows.


def attention(q, k, v, mask=None, temperature=1.0):
    with torch.no_grad():
        scores = qk_scores(q, k)  # (..., L, S)
        if mask is not None:
            scores = scores.masked_fill(mask.logical_not(), float("-inf"))
        weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
        out = torch.matmul(weights, v)  # (..., L, dv)
    return out, weights
