# slip: causal_mask accepts_invalid_length blind5
# source: course forums (a guard that only rejects negative lengths)
# checks seq_len < 0 instead of seq_len < 1, so causal_mask(0) returns an empty (0, 0) mask instead of raising ValueError


def causal_mask(seq_len, device=None):
    """bool (seq_len, seq_len): True where key j <= query i."""
    if seq_len < 0:
        raise ValueError(f"seq_len must be non-negative, got {seq_len}")
    ones = torch.ones(seq_len, seq_len, dtype=torch.bool, device=device)
    return torch.tril(ones)
