# expect: positional_encoding pe_sin_cos_swapped
# Puts the cosines in the even columns and the sines in the odd ones.


def positional_encoding(seq_len, d_model, device=None):
    if seq_len < 1 or d_model % 2 != 0:
        raise ValueError("bad sizes")
    pos = torch.arange(seq_len, dtype=torch.float32, device=device).unsqueeze(1)
    angle = pos / 10000 ** (torch.arange(0, d_model, 2, dtype=torch.float32, device=device) / d_model)
    pe = torch.zeros(seq_len, d_model, device=device)
    pe[:, 0::2] = torch.cos(angle)
    pe[:, 1::2] = torch.sin(angle)
    return pe
