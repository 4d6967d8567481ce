# slip: softmax_with_temperature case_split blind
# source: stable-softmax snippets copied with x.max(-1, keepdim=True), then given a dim argument for the sum only
# Subtracts the maximum along the last dim whatever dim is, which is not a constant shift along dim, so any dim other than -1 gives wrong weights.


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    z = scores / temperature
    row_max = z.max(dim=-1, keepdim=True).values  # always the last dim
    row_max = row_max.masked_fill(torch.isinf(row_max), 0.0)
    e = torch.exp(z - row_max)
    denom = e.sum(dim=dim, keepdim=True)
    denom = denom.masked_fill(denom == 0, 1.0)
    return e / denom
