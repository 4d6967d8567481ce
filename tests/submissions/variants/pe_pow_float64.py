"""A correct positional encoding written with a loop over the column pairs, in float64, cast at the end;
and a KV cache that preallocates its buffers and fills them, as static caches do."""


def positional_encoding(seq_len, d_model, device=None):
    if seq_len < 1:
        raise ValueError("seq_len must be at least 1")
    if d_model <= 0 or d_model % 2:
        raise ValueError("d_model must be even")
    pe = torch.empty(seq_len, d_model, dtype=torch.float64, device=device)
    pos = torch.arange(seq_len, dtype=torch.float64, device=device)
    for i in range(d_model // 2):
        angle = pos / math.pow(10000.0, 2 * i / d_model)  # (L,)
        pe[:, 2 * i] = torch.sin(angle)
        pe[:, 2 * i + 1] = torch.cos(angle)
    return pe.float()


class KVCacheAttention(nn.Module):
    def __init__(self, d_model, bias=True, max_len=64):
        super().__init__()
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.max_len = max_len
        self.k_cache = self.v_cache = None
        self.t = 0  # tokens seen

    def forward(self, x_new):
        B, n, d = x_new.shape
        if self.k_cache is None:  # made on the first call, where the dtype and device are known
            self.k_cache = x_new.new_zeros(B, self.max_len, d)
            self.v_cache = x_new.new_zeros(B, self.max_len, d)
        # torch.cat keeps the graph for gradients; writing into the buffer in place would too, but not twice.
        k_all = torch.cat([self.k_cache[:, : self.t], self.W_k(x_new)], dim=1)  # (B, t + n, d)
        v_all = torch.cat([self.v_cache[:, : self.t], self.W_v(x_new)], dim=1)
        self.k_cache = torch.cat([k_all, self.k_cache[:, self.t + n :]], dim=1)
        self.v_cache = torch.cat([v_all, self.v_cache[:, self.t + n :]], dim=1)
        self.t += n
        positions = torch.arange(self.t - n, self.t, device=x_new.device).unsqueeze(1)  # (n, 1)
        keys = torch.arange(self.t, device=x_new.device).unsqueeze(0)  # (1, t)
        return attention(self.W_q(x_new), k_all, v_all, keys <= positions)
