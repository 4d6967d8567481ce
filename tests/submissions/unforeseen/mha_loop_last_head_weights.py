# slip: multi_head_attention reduced_dim blind5
# source: per-head loop implementations in course forums and tutorials (the loop variable overwritten each pass)
# loops over heads and concatenates their outputs, but returns only the last head's weights, (B, L, L) instead of (B, H, L, L)


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

    def forward(self, x, causal=False):
        B, L, _ = x.shape
        q, k, v = self.W_q(x), self.W_k(x), self.W_v(x)  # (B, L, d_model)
        mask = causal_mask(L, device=x.device) if causal else None
        outs = []
        for h in range(self.n_heads):
            cols = slice(h * self.d_head, (h + 1) * self.d_head)
            out_h, weights = attention(q[..., cols], k[..., cols], v[..., cols], mask)  # (B, L, dh), (B, L, L)
            outs.append(out_h)
        out = torch.cat(outs, dim=-1)  # (B, L, d_model)
        return self.W_o(out), weights
