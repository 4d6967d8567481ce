# slip: causal_mask constant_output blind3
# source: forum posts using torch.tril_indices, indexing with the (2, N) index tensor directly
# Indexes the mask with the whole (2, N) tril_indices tensor, which selects whole rows, so every entry ends up True.


def causal_mask(seq_len, device=None):
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    mask = torch.zeros(seq_len, seq_len, dtype=torch.bool, device=device)
    idx = torch.tril_indices(seq_len, seq_len, device=device)  # (2, N): row and column of each entry
    mask[idx] = True  # meant mask[idx[0], idx[1]]
    return mask
