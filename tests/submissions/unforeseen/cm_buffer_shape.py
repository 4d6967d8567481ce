# slip: causal_mask extra_dims
# source: real codebase: nanoGPT registers its causal mask as a buffer of shape (1, 1, block_size, block_size)
# Returns the right bool lower triangle with two extra leading dimensions, shape (1, 1, seq_len, seq_len).


def causal_mask(seq_len, device=None):
    """bool (seq_len, seq_len): True where key j <= query i."""
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    ones = torch.ones(seq_len, seq_len, dtype=torch.bool, device=device)
    return torch.tril(ones).view(1, 1, seq_len, seq_len)  # ready to broadcast over (B, H)
