# slip: attention case_split blind
# source: NumPy-style masking seen in forum answers, scores[~mask] = -inf, which works for a single (L, S) matrix
# Masks by boolean indexing, which does not broadcast, so a (L, S) mask on batched or multi-head scores raises an IndexError.


def attention(q, k, v, mask=None, temperature=1.0):
    scores = qk_scores(q, k)  # (..., L, S)
    if mask is not None:
        scores[~mask] = float("-inf")  # needs mask.shape == scores.shape
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    out = torch.matmul(weights, v)  # (..., L, dv)
    return out, weights
