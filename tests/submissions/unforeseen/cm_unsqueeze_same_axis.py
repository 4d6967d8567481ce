# slip: causal_mask slice_of blind4
# source: broadcasting questions on course forums (both index vectors unsqueezed on the same axis)
# i and j are both made row vectors, so j <= i compares position with itself and gives a (1, L) all-True mask


def causal_mask(seq_len, device=None):
    """bool (seq_len, seq_len): True where key j <= query i."""
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    i = torch.arange(seq_len, device=device).unsqueeze(0)  # queries
    j = torch.arange(seq_len, device=device).unsqueeze(0)  # keys
    return j <= i
