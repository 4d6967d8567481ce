# slip: kv_cache_attention case_split blind
# source: KV-cache questions on forums where the cache is torch.cat'ed along dim=0, the default, instead of the sequence dim
# Appends the new keys and values along dim 0 (the batch) instead of dim 1 (the tokens), so the cache grows in batch and never in length.


class KVCacheAttention(nn.Module):
    def __init__(self, d_model, bias=True):
        super().__init__()
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.k_cache = None  # (B, t, d_model)
        self.v_cache = None

    def forward(self, x_new):
        q, k, v = self.W_q(x_new), self.W_k(x_new), self.W_v(x_new)  # (B, n, d_model)
        if self.k_cache is None:
            self.k_cache, self.v_cache = k, v
        else:
            self.k_cache = torch.cat([self.k_cache, k])  # dim=0 by default: the batch dim
            self.v_cache = torch.cat([self.v_cache, v])
        t, n = self.k_cache.shape[1], x_new.shape[1]
        mask = causal_mask(t, device=x_new.device)[t - n :]  # (n, t)
        return attention(q, self.k_cache, self.v_cache, mask)
