# slip: attention weight_where_none blind3
# source: The Annotated Transformer and many tutorials: scores.masked_fill(mask == 0, -1e9)
# Fills blocked scores with the finite -1e9 instead of -inf, which overflows in float16 and gives a fully blocked row uniform weights instead of zeros.


def attention(q, k, v, mask=None, temperature=1.0):
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(mask == 0, -1e9)
    weights = softmax_with_temperature(scores, temperature, dim=-1)
    out = torch.matmul(weights, v)
    return out, weights
