# slip: multi_head_attention case_split blind4
# source: multi-head attention tutorials and forum threads (heads joined with a view straight from (B, H, L, dh))
# heads are split correctly but joined back with view(B, L, d_model) without transposing H and L back


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
        return t.transpose(1, 2)  # (B, H, L, dh)

    def forward(self, x, causal=False):
        B, L, _ = x.shape
        q = self._split_heads(self.W_q(x))
        k = self._split_heads(self.W_k(x))
        v = self._split_heads(self.W_v(x))
        mask = causal_mask(L, device=x.device) if causal else None
        out, weights = attention(q, k, v, mask)  # (B, H, L, dh)
        out = out.contiguous().view(B, L, self.d_model)
        return self.W_o(out), weights
