# slip: positional_encoding index_map
# source: course forum pattern: positions counted from 1 ("the first token is position 1"), as in 1-based position ids
# Uses positions 1..seq_len instead of 0..seq_len-1, so every row is shifted by one position.


def positional_encoding(seq_len, d_model, device=None):
    """Sinusoidal positions (seq_len, d_model), float32: sin in even columns, cos in odd ones."""
    if seq_len < 1 or d_model < 2 or d_model % 2 != 0:
        raise ValueError(f"need seq_len >= 1 and an even d_model >= 2, got {seq_len}, {d_model}")
    pos = torch.arange(1, seq_len + 1, dtype=torch.float32, device=device).unsqueeze(1)  # (L, 1), from 1
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / d_model))
    angle = pos * freq  # (L, d_model / 2)
    pe = torch.zeros(seq_len, d_model, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe
