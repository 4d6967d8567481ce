# slip: attention - blind5
# source: real codebases' attention with dropout on the weights, copied with torch.nn.functional.dropout (training=True by default)
# applies F.dropout(p=0.1) to the weights, which is always on: random weights are zeroed, the rest scaled by 1/0.9, so rows no longer sum to 1 and results are random


def attention(q, k, v, mask=None, temperature=1.0):
    """q (..., L, d), k (..., S, d), v (..., S, dv) -> (out (..., L, dv), weights (..., L, S))."""
    scores = qk_scores(q, k)
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    weights = softmax_with_temperature(scores, temperature, dim=-1)
    weights = nn.functional.dropout(weights, p=0.1)  # regularise the attention weights
    out = torch.matmul(weights, v)
    return out, weights
