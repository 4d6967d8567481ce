# slip: causal_mask region_split blind
# source: loop-built masks in course forums ("the first token has no past, so start at 1")
# Fills the rows in a loop that starts at i = 1, so row 0 stays all False and the first token may not even see itself.


def causal_mask(seq_len, device=None):
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    mask = torch.zeros(seq_len, seq_len, dtype=torch.bool, device=device)
    for i in range(1, seq_len):
        mask[i, : i + 1] = True  # keys 0..i
    return mask
