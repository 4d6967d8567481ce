# slip: positional_encoding region_split blind5
# source: course forums (in-place ops "to save memory")
# takes sin with the in-place angle.sin_(), which overwrites the angles, so the odd columns hold cos(sin(angle)) instead of cos(angle)


def positional_encoding(seq_len, d_model, device=None):
    """Sinusoidal positions (seq_len, d_model), float32: sin in even columns, cos in odd ones."""
    if seq_len < 1 or d_model < 2 or d_model % 2 != 0:
        raise ValueError(f"need seq_len >= 1 and an even d_model >= 2, got {seq_len}, {d_model}")
    pos = torch.arange(seq_len, dtype=torch.float32, device=device).unsqueeze(1)
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / d_model))
    angle = pos * freq  # (L, d_model / 2)
    pe = torch.zeros(seq_len, d_model, device=device)
    pe[:, 0::2] = angle.sin_()
    pe[:, 1::2] = angle.cos_()
    return pe
