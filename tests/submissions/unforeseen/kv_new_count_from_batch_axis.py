# slip: kv_cache_attention case_split blind5
# source: course forums (reading the new-token count off the wrong axis of x_new)
# takes n = x_new.shape[0] (the batch size) as the number of new tokens, so the mask keeps the wrong number of last rows: wrong shapes for B > 1, future keys shown within a chunk for B = 1


class KVCacheAttention(nn.Module):
    """One causal head that reads a few tokens per call and caches the keys and values it has seen."""

    def __init__(self, d_model, bias=True):
        super().__init__()
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.k_cache = None
        self.v_cache = None

    def forward(self, x_new):
        q, k, v = self.W_q(x_new), self.W_k(x_new), self.W_v(x_new)  # (B, n, d_model)
        if self.k_cache is None:
            self.k_cache, self.v_cache = k, v
        else:
            self.k_cache = torch.cat([self.k_cache, k], dim=1)
            self.v_cache = torch.cat([self.v_cache, v], dim=1)
        t, n = self.k_cache.shape[1], x_new.shape[0]
        mask = causal_mask(t, device=x_new.device)[t - n :]  # (n, t)
        return attention(q, self.k_cache, self.v_cache, mask)
