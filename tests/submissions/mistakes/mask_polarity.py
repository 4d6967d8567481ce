# expect: attention mask_polarity
# Treats True in the mask as "blocked" and hides exactly the keys that may be attended.


def attention(q, k, v, mask=None, temperature=1.0):
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    out = torch.matmul(weights, v)  # (..., L, dv)
    return out, weights
