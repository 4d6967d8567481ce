# expect: softmax_with_temperature wrong_dim
# Ignores the dim argument and always normalises along dim 0.


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    z = scores / temperature
    row_max = z.max(dim=0, keepdim=True).values
    row_max = row_max.masked_fill(torch.isinf(row_max), 0.0)
    e = torch.exp(z - row_max)
    denom = e.sum(dim=0, keepdim=True)
    denom = denom.masked_fill(denom == 0, 1.0)
    return e / denom
