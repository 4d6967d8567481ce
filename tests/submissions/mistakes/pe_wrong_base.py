# expect: positional_encoding pe_wrong_base
# Uses the pair index i in the exponent without the 2 of 2i: 10000^(i / d_model), which is base 100.


def positional_encoding(seq_len, d_model, device=None):
    if seq_len < 1 or d_model % 2 != 0:
        raise ValueError("bad sizes")
    pos = torch.arange(seq_len, dtype=torch.float32, device=device).unsqueeze(1)
    i = torch.arange(d_model // 2, dtype=torch.float32, device=device)  # the pair index
    angle = pos / 10000 ** (i / d_model)
    pe = torch.zeros(seq_len, d_model, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe
