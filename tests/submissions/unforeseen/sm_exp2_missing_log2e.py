# slip: softmax_with_temperature other_temperature blind3
# source: FlashAttention / Triton tutorial kernels that use exp2 for speed, copied without the log2(e) factor
# Exponentiates with base 2 (torch.exp2) but never multiplies the logits by log2(e), so it computes a softmax of z * ln 2.


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    z = scores / temperature
    row_max = z.max(dim=dim, keepdim=True).values
    row_max = row_max.masked_fill(torch.isinf(row_max), 0.0)
    e = torch.exp2(z - row_max)  # exp2 is faster than exp
    denom = e.sum(dim=dim, keepdim=True)
    denom = denom.masked_fill(denom == 0, 1.0)
    return e / denom
