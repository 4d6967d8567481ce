# expect: multi_head_attention heads_split_without_transpose
# Splits heads with view(B, H, L, dh) straight away, so each "head" mixes features from several positions.


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
        return t.view(B, self.n_heads, L, self.d_head)  # (B, H, L, dh), but scrambled

    def forward(self, x, causal=False):
        B, L, _ = x.shape
        q = self._split_heads(self.W_q(x))  # (B, H, L, dh)
        k = self._split_heads(self.W_k(x))
        v = self._split_heads(self.W_v(x))
        mask = causal_mask(L, device=x.device) if causal else None  # (L, L)
        out, weights = attention(q, k, v, mask)  # (B, H, L, dh), (B, H, L, L)
        out = out.reshape(B, L, self.d_model)  # undo the view the same way
        return self.W_o(out), weights
