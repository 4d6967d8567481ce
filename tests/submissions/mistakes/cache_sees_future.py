# expect: kv_cache_attention cache_sees_future
# Leaves out the mask: right for one token per call, but a prompt's tokens see the ones after them.


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
        self.k_cache = k if self.k_cache is None else torch.cat([self.k_cache, k], dim=1)
        self.v_cache = v if self.v_cache is None else torch.cat([self.v_cache, v], dim=1)
        return attention(q, self.k_cache, self.v_cache)
