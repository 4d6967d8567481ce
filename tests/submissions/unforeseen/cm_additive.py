# slip: causal_mask mask_as_numbers
# source: real codebases: Hugging Face transformers and The Annotated Transformer build an additive float mask (0 visible, -inf hidden)
# Returns a float32 additive mask, 0.0 where the key is visible and -inf where it is hidden, instead of the bool mask (True = visible).


def causal_mask(seq_len, device=None):
    """bool (seq_len, seq_len): True where key j <= query i."""
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    hidden = torch.full((seq_len, seq_len), float("-inf"), dtype=torch.float32, device=device)
    return torch.triu(hidden, diagonal=1)  # 0.0 on and below the diagonal, -inf above
