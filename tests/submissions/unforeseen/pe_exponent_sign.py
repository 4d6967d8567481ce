# slip: positional_encoding region_split blind
# source: the Annotated Transformer's div_term = exp(arange(0, d, 2) * -(log(10000) / d)) copied without its minus sign
# Drops the minus sign in the exponent, so the angle is pos * 10000^(2i/d_model) instead of pos / 10000^(2i/d_model).


def positional_encoding(seq_len, d_model, device=None):
    if seq_len < 1 or d_model < 2 or d_model % 2 != 0:
        raise ValueError(f"need seq_len >= 1 and an even d_model >= 2, got {seq_len}, {d_model}")
    pos = torch.arange(seq_len, dtype=torch.float32, device=device).unsqueeze(1)  # (L, 1)
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32, device=device) * (math.log(10000.0) / d_model))
    angle = pos * freq  # (L, d_model / 2)
    pe = torch.zeros(seq_len, d_model, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe
