# slip: softmax_with_temperature accepts_invalid_temperature blind5
# source: course forums (guarding only the division by zero)
# only rejects temperature == 0, so a negative (or infinite) temperature is silently accepted and flips (or flattens) the distribution instead of raising ValueError


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    """softmax(scores / temperature) along dim, same shape as scores."""
    if temperature == 0:
        raise ValueError("temperature must not be zero")
    z = scores / temperature
    row_max = z.max(dim=dim, keepdim=True).values
    row_max = row_max.masked_fill(torch.isinf(row_max), 0.0)
    e = torch.exp(z - row_max)
    denom = e.sum(dim=dim, keepdim=True)
    denom = denom.masked_fill(denom == 0, 1.0)
    return e / denom
