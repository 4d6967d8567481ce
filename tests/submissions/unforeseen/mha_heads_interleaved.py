# slip: multi_head_attention knob
# source: course forum pattern: view(B, L, d_head, H) with the two trailing sizes in the wrong order, then permuted to (B, H, L, dh) so the shapes look right
# Splits heads with view(B, L, d_head, H).permute(0, 3, 1, 2) and joins them back the matching way, so each head takes every H-th feature instead of a contiguous block.


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
        t = t.view(B, L, self.d_head, self.n_heads)  # (B, L, dh, H): sizes in the wrong order
        return t.permute(0, 3, 1, 2)  # (B, H, L, dh), head h holds features h, h + H, h + 2H, ...

    def forward(self, x, causal=False):
        B, L, _ = x.shape
        q = self._split_heads(self.W_q(x))  # (B, H, L, dh)
        k = self._split_heads(self.W_k(x))
        v = self._split_heads(self.W_v(x))
        mask = causal_mask(L, device=x.device) if causal else None  # (L, L)
        out, weights = attention(q, k, v, mask)  # (B, H, L, dh), (B, H, L, L)
        out = out.permute(0, 2, 3, 1).reshape(B, L, self.d_model)  # (B, L, dh, H) -> (B, L, d_model)
        return self.W_o(out), weights
