# slip: attention weight_where_none blind4
# source: common PyTorch pitfall in forum threads (out-of-place masked_fill whose result is thrown away)
# calls scores.masked_fill(...) without assigning the result, so the mask never takes effect


def attention(q, k, v, mask=None, temperature=1.0):
    """q (..., L, d), k (..., S, d), v (..., S, dv) -> (out (..., L, dv), weights (..., L, S))."""
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores.masked_fill(mask.logical_not(), float("-inf"))  # blocked keys
    weights = softmax_with_temperature(scores, temperature, dim=-1)
    out = torch.matmul(weights, v)
    return out, weights
