# slip: positional_encoding extra_dims
# source: real codebases: the PyTorch word_language_model and The Annotated Transformer keep pe with a leading batch dimension for broadcasting
# Returns the right table with a leading batch dimension, shape (1, seq_len, d_model) instead of (seq_len, d_model).


def positional_encoding(seq_len, d_model, device=None):
    """Sinusoidal positions (seq_len, d_model), float32: sin in even columns, cos in odd ones."""
    if seq_len < 1 or d_model < 2 or d_model % 2 != 0:
        raise ValueError(f"need seq_len >= 1 and an even d_model >= 2, got {seq_len}, {d_model}")
    pos = torch.arange(seq_len, dtype=torch.float32, device=device).unsqueeze(1)  # (L, 1)
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / d_model))
    angle = pos * freq  # (L, d_model / 2)
    pe = torch.zeros(seq_len, d_model, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe.unsqueeze(0)  # (1, L, d_model), ready to add to x
