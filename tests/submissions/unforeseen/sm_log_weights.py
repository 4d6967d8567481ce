# slip: softmax_with_temperature elementwise_map
# source: course forum pattern: a log-sum-exp softmax copied from a log_softmax derivation that stops before the final exp
# Returns the log of the weights, z - max - log(sum exp(z - max)), having forgotten the final exp (an all -inf row gives log 0 = -inf).


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    """softmax(scores / temperature) along dim, same shape as scores."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    z = scores / temperature
    row_max = z.max(dim=dim, keepdim=True).values
    row_max = row_max.masked_fill(torch.isinf(row_max), 0.0)
    shifted = z - row_max
    denom = torch.exp(shifted).sum(dim=dim, keepdim=True)
    denom = denom.masked_fill(denom == 0, 1.0)  # all -inf row: log(0 / 1) = -inf
    return shifted - torch.log(denom)  # log-weights: the final exp is missing
