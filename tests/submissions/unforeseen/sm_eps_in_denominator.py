# slip: softmax_with_temperature rows_off_sum blind3
# source: linear-attention and "safe division" code in real codebases (x / (x.sum(-1, keepdim=True) + 1e-6))
# Adds 1e-6 to the denominator "to avoid dividing by zero", so no row sums to exactly one any more.


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    z = scores / temperature
    row_max = z.max(dim=dim, keepdim=True).values
    row_max = row_max.masked_fill(torch.isinf(row_max), 0.0)
    e = torch.exp(z - row_max)
    return e / (e.sum(dim=dim, keepdim=True) + 1e-6)
