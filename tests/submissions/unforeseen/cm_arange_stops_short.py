# slip: causal_mask slice_of blind5
# source: comparison-style masks in blog tutorials, with positions written 1..L but an exclusive end
# builds positions with torch.arange(1, seq_len), one short, so the mask is (seq_len - 1, seq_len - 1) (and empty for seq_len 1)


def causal_mask(seq_len, device=None):
    """bool (seq_len, seq_len): True where key j <= query i."""
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    pos = torch.arange(1, seq_len, device=device)  # positions 1..L
    return pos.unsqueeze(0) <= pos.unsqueeze(1)  # (i, j): j <= i
