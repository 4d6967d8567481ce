# slip: kv_cache_attention case_split blind5
# source: generation-loop code in tutorials written for batch size 1 (empty cache preallocated as (1, 0, d))
# starts the cache as an empty (1, 0, d_model) tensor, so torch.cat fails for any batch larger than 1 (works only for B = 1)


class KVCacheAttention(nn.Module):
    """One causal head that reads a few tokens per call and caches the keys and values it has seen."""

    def __init__(self, d_model, bias=True):
        super().__init__()
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.k_cache = torch.zeros(1, 0, d_model)  # (B, t, d_model), empty to start
        self.v_cache = torch.zeros(1, 0, d_model)

    def forward(self, x_new):
        q, k, v = self.W_q(x_new), self.W_k(x_new), self.W_v(x_new)  # (B, n, d_model)
        self.k_cache = torch.cat([self.k_cache.to(k), k], dim=1)
        self.v_cache = torch.cat([self.v_cache.to(v), v], dim=1)
        t, n = self.k_cache.shape[1], x_new.shape[1]
        mask = causal_mask(t, device=x_new.device)[t - n :]  # (n, t)
        return attention(q, self.k_cache, self.v_cache, mask)
