# slip: softmax_with_temperature case_split blind4
# source: Q&A threads on "sampling temperature" (temperature applied to the probabilities, not the logits)
# takes the ordinary softmax first and then divides the probabilities by the temperature


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    """softmax(scores / temperature) along dim, same shape as scores."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    row_max = scores.max(dim=dim, keepdim=True).values
    row_max = row_max.masked_fill(torch.isinf(row_max), 0.0)
    e = torch.exp(scores - row_max)
    denom = e.sum(dim=dim, keepdim=True)
    denom = denom.masked_fill(denom == 0, 1.0)
    probs = e / denom
    return probs / temperature
