# slip: attention knob blind3
# source: notebook code where the last matmul picks up the wrong variable name
# Multiplies the scores (pre-softmax) by v instead of the softmax weights, while still returning the weights.


def attention(q, k, v, mask=None, temperature=1.0):
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    weights = softmax_with_temperature(scores, temperature, dim=-1)
    out = torch.matmul(scores, v)  # should be weights @ v
    return out, weights
