# expect: softmax_with_temperature timeout
# Sums the exponentials in a while True loop but forgets to advance the index, so it never ends.


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    z = scores / temperature
    row_max = z.max(dim=dim, keepdim=True).values
    row_max = row_max.masked_fill(torch.isinf(row_max), 0.0)
    e = torch.exp(z - row_max)
    n = e.shape[dim]
    total = torch.zeros_like(e.select(dim, 0))
    i = 0
    while True:
        if i == n:
            break
        total = total + e.select(dim, i)
    denom = total.unsqueeze(dim)
    denom = denom.masked_fill(denom == 0, 1.0)
    return e / denom
