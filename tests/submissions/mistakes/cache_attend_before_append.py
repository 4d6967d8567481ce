# expect: kv_cache_attention cache_attend_before_append
# Attends over the cache first and appends the new key and value afterwards, so a new token never sees itself.


class KVCacheAttention(nn.Module):
    def __init__(self, d_model, bias=True):
        super().__init__()
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.k_cache = None
        self.v_cache = None

    def forward(self, x_new):
        q, k, v = self.W_q(x_new), self.W_k(x_new), self.W_v(x_new)
        if self.k_cache is None:  # the prompt: nothing cached yet
            self.k_cache, self.v_cache = k, v
            return attention(q, k, v, causal_mask(x_new.shape[1], device=x_new.device))
        out = attention(q, self.k_cache, self.v_cache)
        self.k_cache = torch.cat([self.k_cache, k], dim=1)
        self.v_cache = torch.cat([self.v_cache, v], dim=1)
        return out
