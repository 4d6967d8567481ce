# expect: softmax_with_temperature unstable_softmax
# Textbook exp(z) / sum(exp(z)) without subtracting the max: overflows to inf/inf = NaN on big scores.


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    e = torch.exp(scores / temperature)
    return e / e.sum(dim=dim, keepdim=True)
