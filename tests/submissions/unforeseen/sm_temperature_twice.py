# slip: softmax_with_temperature other_temperature
# source: course forum pattern: the temperature is applied once when scaling the scores and again inside the exp after a refactor
# Divides the scores by the temperature twice, computing softmax(scores / temperature^2); right only at temperature 1.


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    """softmax(scores / temperature) along dim, same shape as scores."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    z = scores / temperature
    row_max = z.max(dim=dim, keepdim=True).values
    row_max = row_max.masked_fill(torch.isinf(row_max), 0.0)
    e = torch.exp((z - row_max) / temperature)  # the temperature again
    denom = e.sum(dim=dim, keepdim=True)
    denom = denom.masked_fill(denom == 0, 1.0)
    return e / denom
