# slip: multi_head_attention knob blind
# source: copy-paste slip in q/k/v projection lines, common in student code reviews and course forums
# Projects the keys with W_q instead of W_k (a copy-pasted line), so W_k is never used and the scores are q @ q^T.


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
        t = t.view(B, L, self.n_heads, self.d_head)  # (B, L, H, dh)
        return t.transpose(1, 2)  # (B, H, L, dh)

    def forward(self, x, causal=False):
        B, L, _ = x.shape
        q = self._split_heads(self.W_q(x))  # (B, H, L, dh)
        k = self._split_heads(self.W_q(x))  # copy-pasted from the line above
        v = self._split_heads(self.W_v(x))
        mask = causal_mask(L, device=x.device) if causal else None  # (L, L)
        out, weights = attention(q, k, v, mask)  # (B, H, L, dh), (B, H, L, L)
        out = out.transpose(1, 2).contiguous().view(B, L, self.d_model)  # (B, L, d_model)
        return self.W_o(out), weights
