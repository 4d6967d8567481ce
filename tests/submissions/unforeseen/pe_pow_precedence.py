# slip: positional_encoding - blind4
# source: hand-written PE in blog posts and student repos (10000 ** 2 * i / d without parentheses)
# the divisor is written 10000 ** 2 * i / d_model, so it is 1e8 * 2i / d (0 in column 0) instead of 10000 ** (2i / d)


def positional_encoding(seq_len, d_model, device=None):
    """Sinusoidal positions (seq_len, d_model), float32: sin in even columns, cos in odd ones."""
    if seq_len < 1 or d_model < 2 or d_model % 2 != 0:
        raise ValueError(f"need seq_len >= 1 and an even d_model >= 2, got {seq_len}, {d_model}")
    pos = torch.arange(seq_len, dtype=torch.float32, device=device).unsqueeze(1)  # (L, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float32, device=device)  # 2i
    div = 10000.0 ** 2 * two_i / d_model
    angle = pos / div  # (L, d_model / 2)
    pe = torch.zeros(seq_len, d_model, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe
