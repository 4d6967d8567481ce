# expect: causal_mask accepts_invalid_length
# Forgets the seq_len < 1 check: causal_mask(0) quietly returns an empty mask.
def causal_mask(seq_len, device=None):
    i = torch.arange(seq_len, device=device)
    return i[None, :] <= i[:, None]
