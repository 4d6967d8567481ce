# slip: causal_mask region_split blind3
# source: Mistral / Longformer style local-attention helpers reused as the causal mask
# Keeps only a band of the last 4 keys (tril minus everything more than 3 below the diagonal), so long sequences cannot see their early tokens.


def causal_mask(seq_len, device=None, window=4):
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    ones = torch.ones(seq_len, seq_len, dtype=torch.bool, device=device)
    return torch.tril(ones) & torch.triu(ones, diagonal=-(window - 1))  # j <= i and i - j < window
