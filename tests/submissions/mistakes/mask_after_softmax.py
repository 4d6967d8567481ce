# expect: attention mask_after_softmax
# Applies the mask after the softmax by zeroing weights, so the rows no longer sum to 1.


def attention(q, k, v, mask=None, temperature=1.0):
    scores = qk_scores(q, k)  # (..., L, S)
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    if mask is not None:
        weights = weights * mask  # zero the blocked keys
    out = torch.matmul(weights, v)  # (..., L, dv)
    return out, weights
