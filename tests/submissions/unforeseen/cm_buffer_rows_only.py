# slip: causal_mask slice_of blind4
# source: GPT-style codebases that register a max-length tril buffer and slice it (second slice forgotten)
# slices the precomputed max-size mask by rows only, so the mask has max_len columns instead of seq_len


_CAUSAL_BUFFER = None


def causal_mask(seq_len, device=None):
    """bool (seq_len, seq_len): True where key j <= query i."""
    global _CAUSAL_BUFFER
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    max_len = 256
    while max_len < seq_len:
        max_len *= 2
    if _CAUSAL_BUFFER is None or _CAUSAL_BUFFER.shape[0] < max_len:
        _CAUSAL_BUFFER = torch.tril(torch.ones(max_len, max_len, dtype=torch.bool))
    return _CAUSAL_BUFFER[:seq_len].to(device)
