# expect: positional_encoding pe_transposed
# Builds the angles as features x positions and returns them that way round.


def positional_encoding(seq_len, d_model, device=None):
    if seq_len < 1 or d_model % 2 != 0:
        raise ValueError("bad sizes")
    pos = torch.arange(seq_len, dtype=torch.float32, device=device).unsqueeze(0)  # (1, L)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float32, device=device).unsqueeze(1)  # (d/2, 1)
    angle = pos / 10000 ** (two_i / d_model)  # (d/2, L)
    pe = torch.zeros(d_model, seq_len, device=device)
    pe[0::2] = torch.sin(angle)
    pe[1::2] = torch.cos(angle)
    return pe
