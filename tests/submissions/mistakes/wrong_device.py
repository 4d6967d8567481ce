# expect: causal_mask wrong_device
# Accepts device= but never passes it on, so the mask is always built on the default device.


def causal_mask(seq_len, device=None):
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    ones = torch.ones(seq_len, seq_len, dtype=torch.bool)
    return torch.tril(ones)
