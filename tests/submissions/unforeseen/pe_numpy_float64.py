# slip: positional_encoding wrong_dtype blind
# source: the TensorFlow transformer tutorial's NumPy get_angles / positional_encoding, wrapped in torch.from_numpy
# Builds the table in NumPy and converts it with torch.from_numpy, so it comes back float64 instead of float32.


def positional_encoding(seq_len, d_model, device=None):
    import numpy as np

    if seq_len < 1 or d_model < 2 or d_model % 2 != 0:
        raise ValueError(f"need seq_len >= 1 and an even d_model >= 2, got {seq_len}, {d_model}")
    pos = np.arange(seq_len)[:, np.newaxis]  # (L, 1)
    i = np.arange(d_model)[np.newaxis, :]  # (1, d_model)
    angle_rates = 1 / np.power(10000, (2 * (i // 2)) / np.float32(d_model))
    angles = pos * angle_rates  # (L, d_model), float64
    angles[:, 0::2] = np.sin(angles[:, 0::2])
    angles[:, 1::2] = np.cos(angles[:, 1::2])
    return torch.from_numpy(angles).to(device) if device is not None else torch.from_numpy(angles)
