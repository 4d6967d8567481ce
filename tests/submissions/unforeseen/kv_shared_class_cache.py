# slip: kv_cache_attention shared_state blind
# source: the Python mutable-class-attribute pitfall (a list defined in the class body is shared by every instance)
# Keeps the cached keys and values in lists defined on the class, so every KVCacheAttention shares one cache and a new module starts with the old modules' tokens.


class KVCacheAttention(nn.Module):
    keys = []  # (B, n, d_model) per call, shared by all instances
    values = []

    def __init__(self, d_model, bias=True):
        super().__init__()
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x_new):
        q, k, v = self.W_q(x_new), self.W_k(x_new), self.W_v(x_new)  # (B, n, d_model)
        self.keys.append(k)
        self.values.append(v)
        k_all, v_all = torch.cat(self.keys, dim=1), torch.cat(self.values, dim=1)  # (B, t, d_model)
        t, n = k_all.shape[1], x_new.shape[1]
        mask = causal_mask(t, device=x_new.device)[t - n :]  # (n, t)
        return attention(q, k_all, v_all, mask)
