# slip: softmax_with_temperature unstable_softmax blind5
# source: hand-written softmax in course notebooks (max taken on the wrong variable)
# subtracts the row max of the raw scores from scores / temperature, so at low temperature (or large scores) exp overflows to inf/NaN, and at high temperature rows underflow to 0


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    """softmax(scores / temperature) along dim, same shape as scores."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    row_max = scores.max(dim=dim, keepdim=True).values
    row_max = row_max.masked_fill(torch.isinf(row_max), 0.0)
    z = scores / temperature
    e = torch.exp(z - row_max)
    denom = e.sum(dim=dim, keepdim=True)
    denom = denom.masked_fill(denom == 0, 1.0)
    return e / denom
