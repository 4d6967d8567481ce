# slip: multi_head_attention no_weight_where_some blind5
# source: decoder-only (GPT-style) code in real codebases where attention is always causal
# defaults causal to True, so a plain call model(x) masks the future keys although the contract's default is no mask


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model = d_model
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.W_o = nn.Linear(d_model, d_model, bias=bias)

    def _split_heads(self, t):
        B, L, _ = t.shape
        t = t.view(B, L, self.n_heads, self.d_head)
        return t.transpose(1, 2)

    def forward(self, x, causal=True):
        B, L, _ = x.shape
        q = self._split_heads(self.W_q(x))
        k = self._split_heads(self.W_k(x))
        v = self._split_heads(self.W_v(x))
        mask = causal_mask(L, device=x.device) if causal else None
        out, weights = attention(q, k, v, mask)
        out = out.transpose(1, 2).contiguous().view(B, L, self.d_model)
        return self.W_o(out), weights
