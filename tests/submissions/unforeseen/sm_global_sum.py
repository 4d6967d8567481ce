# slip: softmax_with_temperature rows_rescaled
# source: course forum pattern: `e / e.sum()` without a dim, which is right for the single vector of the lecture slides
# Divides exp(z - max) by the sum over the whole tensor instead of the sum along dim, so no row sums to 1 once there are several rows.


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    """softmax(scores / temperature) along dim, same shape as scores."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    z = scores / temperature
    row_max = z.max(dim=dim, keepdim=True).values
    row_max = row_max.masked_fill(torch.isinf(row_max), 0.0)
    e = torch.exp(z - row_max)
    denom = e.sum()  # the whole tensor, not along dim
    denom = denom.masked_fill(denom == 0, 1.0)
    return e / denom
