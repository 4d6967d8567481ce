# expect: causal_mask mask_diagonal_excluded
# Strictly lower triangle: True where j < i, so a token may not look at itself.


def causal_mask(seq_len, device=None):
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    ones = torch.ones(seq_len, seq_len, dtype=torch.bool, device=device)
    return torch.tril(ones, diagonal=-1)
