# slip: positional_encoding region_split blind3
# source: DETR's PositionEmbeddingSine (normalize=True) style code, positions rescaled to [0, 2*pi]
# Divides the positions by seq_len and multiplies by 2*pi before the sinusoids, so the encoding depends on the sequence length.


def positional_encoding(seq_len, d_model, device=None):
    if seq_len < 1 or d_model < 2 or d_model % 2 != 0:
        raise ValueError(f"need seq_len >= 1 and an even d_model >= 2, got {seq_len}, {d_model}")
    pos = torch.arange(seq_len, dtype=torch.float32, device=device).unsqueeze(1)
    pos = pos / seq_len * 2 * math.pi  # normalised positions
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / d_model))
    angle = pos * freq
    pe = torch.zeros(seq_len, d_model, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe
