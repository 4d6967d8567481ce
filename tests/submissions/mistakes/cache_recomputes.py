# expect: kv_cache_attention cache_recomputes
# Keeps the tokens instead of their keys and values, and projects all of them again at every call.


class KVCacheAttention(nn.Module):
    def __init__(self, d_model, bias=True):
        super().__init__()
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.seen = None  # (B, t, d_model): every token so far

    def forward(self, x_new):
        self.seen = x_new if self.seen is None else torch.cat([self.seen, x_new], dim=1)
        k, v = self.W_k(self.seen), self.W_v(self.seen)  # all t tokens, again
        t, n = self.seen.shape[1], x_new.shape[1]
        mask = causal_mask(t, device=x_new.device)[t - n :]
        return attention(self.W_q(x_new), k, v, mask)
