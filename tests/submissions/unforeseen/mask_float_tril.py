# slip: causal_mask wrong_dtype blind
# source: nanoGPT / "Let's build GPT" style torch.tril(torch.ones(T, T)), used later as masked_fill(tril == 0, -inf)
# Returns a float mask of 1.0 and 0.0 instead of a bool mask.


def causal_mask(seq_len, device=None):
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    return torch.tril(torch.ones(seq_len, seq_len, device=device))  # float32 ones and zeros
