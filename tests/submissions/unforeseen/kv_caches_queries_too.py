# slip: kv_cache_attention slice_of blind4
# source: first attempts at KV caching in forum threads (queries cached as well and the whole prefix re-attended)
# caches the queries too and returns outputs and weights for every cached position, not just the new tokens


class KVCacheAttention(nn.Module):
    """One causal head that reads a few tokens per call and caches the keys and values it has seen."""

    def __init__(self, d_model, bias=True):
        super().__init__()
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.q_cache = None
        self.k_cache = None  # (B, t, d_model)
        self.v_cache = None

    def forward(self, x_new):
        q, k, v = self.W_q(x_new), self.W_k(x_new), self.W_v(x_new)
        if self.k_cache is None:
            self.q_cache, self.k_cache, self.v_cache = q, k, v
        else:
            self.q_cache = torch.cat([self.q_cache, q], dim=1)
            self.k_cache = torch.cat([self.k_cache, k], dim=1)
            self.v_cache = torch.cat([self.v_cache, v], dim=1)
        t = self.k_cache.shape[1]
        mask = causal_mask(t, device=x_new.device)  # (t, t)
        return attention(self.q_cache, self.k_cache, self.v_cache, mask)
