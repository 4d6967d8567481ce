# slip: positional_encoding region_split
# source: course forum pattern: PE(pos, 2i+1) = cos(pos / 10000^(2i/d)) read as "the exponent is the column index over d_model" for every column
# Uses each column's own index j in the exponent, so cos column 2i+1 gets 10000^((2i+1)/d_model) instead of sharing 10000^(2i/d_model) with sin column 2i.


def positional_encoding(seq_len, d_model, device=None):
    """Sinusoidal positions (seq_len, d_model), float32: sin in even columns, cos in odd ones."""
    if seq_len < 1 or d_model < 2 or d_model % 2 != 0:
        raise ValueError(f"need seq_len >= 1 and an even d_model >= 2, got {seq_len}, {d_model}")
    pos = torch.arange(seq_len, dtype=torch.float32, device=device).unsqueeze(1)  # (L, 1)
    j = torch.arange(d_model, dtype=torch.float32, device=device)  # the column index
    angle = pos / 10000.0 ** (j / d_model)  # (L, d_model), one frequency per column
    pe = torch.zeros(seq_len, d_model, device=device)
    pe[:, 0::2] = torch.sin(angle[:, 0::2])
    pe[:, 1::2] = torch.cos(angle[:, 1::2])
    return pe
