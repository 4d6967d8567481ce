# slip: kv_cache_attention region_split blind4
# source: KV-cache decoding code in student repos (mask rows taken from the top instead of the bottom)
# slices the first n rows of the causal mask, so the new queries see only the oldest keys


class KVCacheAttention(nn.Module):
    """One causal head that reads a few tokens per call and caches the keys and values it has seen."""

    def __init__(self, d_model, bias=True):
        super().__init__()
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.k_cache = None  # (B, t, d_model)
        self.v_cache = None

    def forward(self, x_new):
        q, k, v = self.W_q(x_new), self.W_k(x_new), self.W_v(x_new)
        if self.k_cache is None:
            self.k_cache, self.v_cache = k, v
        else:
            self.k_cache = torch.cat([self.k_cache, k], dim=1)
            self.v_cache = torch.cat([self.v_cache, v], dim=1)
        t, n = self.k_cache.shape[1], x_new.shape[1]
        mask = causal_mask(t, device=x_new.device)[:n]  # (n, t)
        return attention(q, self.k_cache, self.v_cache, mask)
