# slip: kv_cache_attention other_temperature
# source: course forum pattern: attention written inline over the cache (as in many from-scratch decoding loops) and the 1/sqrt(d_model) dropped
# Attends inline over the cache with q @ k_cache^T never divided by sqrt(d_model) (mask and hand-written softmax otherwise right).


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
        q, k, v = self.W_q(x_new), self.W_k(x_new), self.W_v(x_new)  # (B, n, d_model)
        if self.k_cache is None:
            self.k_cache, self.v_cache = k, v
        else:
            self.k_cache = torch.cat([self.k_cache, k], dim=1)  # (B, t, d_model)
            self.v_cache = torch.cat([self.v_cache, v], dim=1)
        t, n = self.k_cache.shape[1], x_new.shape[1]
        mask = causal_mask(t, device=x_new.device)[t - n :]  # (n, t)
        scores = torch.matmul(q, self.k_cache.transpose(-2, -1))  # (B, n, t), no 1/sqrt(d_model)
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
        e = torch.exp(scores - scores.max(dim=-1, keepdim=True).values)
        weights = e / e.sum(dim=-1, keepdim=True)  # (B, n, t)
        return torch.matmul(weights, self.v_cache), weights
