# slip: causal_mask knob
# source: course forum pattern: an off-by-one diagonal argument, tril(..., diagonal=1) read as "include the diagonal"
# Keeps one diagonal above the main one, so each query also sees the next token.


def causal_mask(seq_len, device=None):
    """bool (seq_len, seq_len): True where key j <= query i."""
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    ones = torch.ones(seq_len, seq_len, dtype=torch.bool, device=device)
    return torch.tril(ones, diagonal=1)  # one diagonal too many
