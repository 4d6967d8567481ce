# slip: positional_encoding region_split blind5
# source: tensor2tensor's get_timing_signal_1d (log timescale increment over num_timescales - 1), ported into the interleaved layout
# spaces the frequencies by log(10000) / (d_model/2 - 1) per pair instead of 2 * log(10000) / d_model, so every frequency after the first is lower than it should be


def positional_encoding(seq_len, d_model, device=None):
    """Sinusoidal positions (seq_len, d_model), float32: sin in even columns, cos in odd ones."""
    if seq_len < 1 or d_model < 2 or d_model % 2 != 0:
        raise ValueError(f"need seq_len >= 1 and an even d_model >= 2, got {seq_len}, {d_model}")
    num_timescales = d_model // 2
    log_timescale_increment = math.log(10000.0) / max(num_timescales - 1, 1)
    pos = torch.arange(seq_len, dtype=torch.float32, device=device).unsqueeze(1)
    inv_timescales = torch.exp(
        torch.arange(num_timescales, dtype=torch.float32, device=device) * -log_timescale_increment
    )
    angle = pos * inv_timescales  # (L, d_model / 2)
    pe = torch.zeros(seq_len, d_model, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe
