# slip: attention other_temperature blind
# source: hand-rolled attention where d_k is read from the wrong tensor (d_k = value.size(-1)); harmless in tutorials where d_k == d_v
# Computes the scores inline and divides by sqrt of the value size dv instead of the query/key size d.


def attention(q, k, v, mask=None, temperature=1.0):
    d_k = v.size(-1)  # should be q.size(-1)
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(d_k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    weights = softmax_with_temperature(scores, temperature, dim=-1)  # (..., L, S)
    out = torch.matmul(weights, v)  # (..., L, dv)
    return out, weights
