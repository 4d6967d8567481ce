# slip: positional_encoding written_elsewhere blind3
# source: copy-pasted sin line in course forums: pe[:, 0::2] written twice
# Writes the cosines into the even columns too (0::2 copied from the sin line), overwriting the sines and leaving the odd columns zero.


def positional_encoding(seq_len, d_model, device=None):
    if seq_len < 1 or d_model < 2 or d_model % 2 != 0:
        raise ValueError(f"need seq_len >= 1 and an even d_model >= 2, got {seq_len}, {d_model}")
    pos = torch.arange(seq_len, dtype=torch.float32, device=device).unsqueeze(1)
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / d_model))
    angle = pos * freq
    pe = torch.zeros(seq_len, d_model, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 0::2] = torch.cos(angle)
    return pe
