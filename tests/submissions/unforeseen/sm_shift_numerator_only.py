# slip: softmax_with_temperature rows_off_sum blind4
# source: course forums (max-subtraction trick added to the numerator after the denominator was written)
# the numerator is exp(z - max) but the denominator still sums the unshifted exp(z)


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    """softmax(scores / temperature) along dim, same shape as scores."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    z = scores / temperature
    denom = torch.exp(z).sum(dim=dim, keepdim=True)
    denom = denom.masked_fill(denom == 0, 1.0)
    row_max = z.max(dim=dim, keepdim=True).values
    row_max = row_max.masked_fill(torch.isinf(row_max), 0.0)
    e = torch.exp(z - row_max)  # stable numerator
    return e / denom
