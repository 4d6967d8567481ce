# slip: positional_encoding index_map
# source: real codebases: tensor2tensor's get_timing_signal_1d and fairseq's SinusoidalPositionalEmbedding lay out all sines then all cosines
# Puts the sines in the first d_model/2 columns and the cosines in the last d_model/2 instead of interleaving them (sin in even columns, cos in odd).


def positional_encoding(seq_len, d_model, device=None):
    """Sinusoidal positions (seq_len, d_model), float32: sin in even columns, cos in odd ones."""
    if seq_len < 1 or d_model < 2 or d_model % 2 != 0:
        raise ValueError(f"need seq_len >= 1 and an even d_model >= 2, got {seq_len}, {d_model}")
    pos = torch.arange(seq_len, dtype=torch.float32, device=device).unsqueeze(1)  # (L, 1)
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / d_model))
    angle = pos * freq  # (L, d_model / 2)
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)  # [sin | cos] halves
