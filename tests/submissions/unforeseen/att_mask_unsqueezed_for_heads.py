# slip: attention case_split blind5
# source: The Annotated Transformer style code (mask.unsqueeze(1) "so the same mask applies to all heads"), moved into attention
# unsqueezes the mask at dim 1 before masked_fill, so a (L, S) mask broadcasts to (L, L, S): weights and output get an extra dimension (or the broadcast fails on batches)


def attention(q, k, v, mask=None, temperature=1.0):
    """q (..., L, d), k (..., S, d), v (..., S, dv) -> (out (..., L, dv), weights (..., L, S))."""
    scores = qk_scores(q, k)
    if mask is not None:
        mask = mask.unsqueeze(1)  # same mask for every head
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    weights = softmax_with_temperature(scores, temperature, dim=-1)
    out = torch.matmul(weights, v)
    return out, weights
