# slip: softmax_with_temperature - blind
# source: hand-written softmax in forum questions ("softmax rows don't sum to 1"), exp(x) / exp(x).sum(dim)
# Sums the exponentials without keepdim=True, so the (..., L) sums broadcast against the last dim and divide the wrong entries (or raise when L != S).


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    z = scores / temperature
    row_max = z.max(dim=dim, keepdim=True).values
    row_max = row_max.masked_fill(torch.isinf(row_max), 0.0)
    e = torch.exp(z - row_max)
    denom = e.sum(dim=dim)  # keepdim forgotten
    denom = denom.masked_fill(denom == 0, 1.0)
    return e / denom
