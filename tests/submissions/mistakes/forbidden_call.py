# expect: softmax_with_temperature forbidden_call
# Uses the built-in torch.softmax instead of writing softmax by hand.


def softmax_with_temperature(scores, temperature=1.0, dim=-1):
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and positive, got {temperature}")
    return torch.softmax(scores / temperature, dim=dim)
