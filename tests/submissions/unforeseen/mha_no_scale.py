# slip: multi_head_attention other_temperature
# source: course forum pattern: attention rewritten inline inside the module (as in many blog-post implementations) and the 1/sqrt(d_head) dropped on the way
# Computes attention inline with q @ k^T never divided by sqrt(d_head) (causal mask and hand-written softmax otherwise right), without calling attention().


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
        k = self._split_heads(self.W_k(x))
        v = self._split_heads(self.W_v(x))
        scores = torch.matmul(q, k.transpose(-2, -1))  # (B, H, L, L), no 1/sqrt(d_head)
        if causal:
            scores = scores.masked_fill(causal_mask(L, device=x.device).logical_not(), float("-inf"))
        e = torch.exp(scores - scores.max(dim=-1, keepdim=True).values)
        weights = e / e.sum(dim=-1, keepdim=True)  # (B, H, L, L)
        out = torch.matmul(weights, v)  # (B, H, L, dh)
        out = out.transpose(1, 2).contiguous().view(B, L, self.d_model)
        return self.W_o(out), weights
